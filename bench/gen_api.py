#!/usr/bin/env python3
"""Writes the synthetic API of the generator benchmark: SERVICES services x 20 methods.

    bench/gen_api.py OUT_DIR [--services 50]

Each service is one file, `OUT_DIR/synth/svcNN/v1/svcNN.proto` (package `synth.svcNN.v1`), with
two resource collections (`widgets`, `gadgets`) and ten methods per collection, each with its
own request message and a different kind of HTTP rule: GET with a multi-segment variable and an
enum query parameter, list with paging query parameters, POST with `body: "resource"`, PATCH on a
nested variable with a FieldMask, PUT with `body: "*"` and a `:replace` verb, DELETE returning
Empty, a `:batchGet` verb with a repeated query parameter, a search whose body is the whole
request (map, repeated enum), a `:move` verb with an additional binding, and stats on an int64
variable with nested query parameters and an additional `custom` binding, plus a `**` binding on
the first collection. Messages use strings, int64s, doubles, bools, enums, nested messages,
repeated fields, maps, oneofs, wrappers, Timestamp and Duration. Templates of different services
never overlap. The output is deterministic. Prints the list of files, one per line, for
`protogate generate --proto`.
"""

import argparse
import pathlib

METHODS_PER_COLLECTION = 10
COLLECTIONS = [("widgets", "Widget"), ("gadgets", "Gadget")]

HEADER = """syntax = "proto3";

// Synthetic service {n} of the generator benchmark (bench/gen_api.py). Generated: do not edit.
package synth.svc{n}.v1;

import "google/api/annotations.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// The life cycle of a resource.
enum State {{
  STATE_UNSPECIFIED = 0;
  STATE_CREATING = 1;
  STATE_ACTIVE = 2;
  STATE_DELETING = 3;
}}

// How much of a resource to return.
enum View {{
  VIEW_UNSPECIFIED = 0;
  VIEW_BASIC = 1;
  VIEW_FULL = 2;
}}

// Who owns a resource.
message Owner {{
  string id = 1;
  string email = 2;
  int64 quota_bytes = 3;
}}

// Options of a stats query: nested query parameters (`options.window`, `options.verbose`).
message StatsOptions {{
  google.protobuf.Duration window = 1;
  bool verbose = 2;
  repeated string metrics = 3;
}}
"""

RESOURCE = """
// A {singular} of service {n}.
message {singular} {{
  string name = 1;
  string display_name = 2;
  string description = 3;
  State state = 4;
  google.protobuf.Timestamp create_time = 5;
  google.protobuf.Timestamp update_time = 6;
  google.protobuf.Duration ttl = 7;
  int64 size_bytes = 8;
  double score = 9;
  bool enabled = 10;
  Owner owner = 11;
  repeated string tags = 12;
  map<string, string> labels = 13;
  google.protobuf.Int32Value priority = 14;
  oneof source {{
    string uri = 15;
    bytes inline_data = 16;
  }}
  string etag = 17;
}}

message Get{singular}Request {{
  string name = 1;
  View view = 2;
}}

message List{plural}Request {{
  string parent = 1;
  int32 page_size = 2;
  string page_token = 3;
  string filter = 4;
  string order_by = 5;
  bool show_deleted = 6;
}}

message List{plural}Response {{
  repeated {singular} {lower} = 1;
  string next_page_token = 2;
  int64 total_size = 3;
}}

message Create{singular}Request {{
  string parent = 1;
  {singular} {lower_singular} = 2;
  string request_id = 3;
  bool validate_only = 4;
}}

message Update{singular}Request {{
  {singular} {lower_singular} = 1;
  google.protobuf.FieldMask update_mask = 2;
  bool allow_missing = 3;
}}

message Delete{singular}Request {{
  string name = 1;
  string etag = 2;
  bool force = 3;
}}

message BatchGet{plural}Request {{
  string parent = 1;
  repeated string names = 2;
  View view = 3;
}}

message BatchGet{plural}Response {{
  repeated {singular} {lower} = 1;
}}

message Search{plural}Request {{
  string query = 1;
  int32 page_size = 2;
  map<string, string> labels = 3;
  repeated State states = 4;
  google.protobuf.Timestamp updated_after = 5;
}}

message Move{singular}Request {{
  string name = 1;
  string id = 2;
  string destination_parent = 3;
  google.protobuf.BoolValue keep_labels = 4;
}}

message Get{singular}StatsRequest {{
  int64 id = 1;
  string path = 2;
  StatsOptions options = 3;
}}

message {singular}Stats {{
  int64 id = 1;
  int64 reads = 2;
  int64 writes = 3;
  double mean_latency_ms = 4;
  map<string, double> metrics = 5;
  google.protobuf.Timestamp sampled_at = 6;
}}
"""

SERVICE_METHODS = """
  // Gets a {singular} by resource name.
  rpc Get{singular}(Get{singular}Request) returns ({singular}) {{
    option (google.api.http) = {{get: "/v1/svc{n}/{{name=projects/*/{plural_lower}/*}}"}};
  }}

  // Lists {plural_lower}, a page at a time.
  rpc List{plural}(List{plural}Request) returns (List{plural}Response) {{
    option (google.api.http) = {{get: "/v1/svc{n}/{{parent=projects/*}}/{plural_lower}"}};
  }}

  // Creates a {singular} from the body.
  rpc Create{singular}(Create{singular}Request) returns ({singular}) {{
    option (google.api.http) = {{
      post: "/v1/svc{n}/{{parent=projects/*}}/{plural_lower}"
      body: "{lower_singular}"
    }};
  }}

  // Updates the fields of a {singular} named by the mask.
  rpc Update{singular}(Update{singular}Request) returns ({singular}) {{
    option (google.api.http) = {{
      patch: "/v1/svc{n}/{{{lower_singular}.name=projects/*/{plural_lower}/*}}"
      body: "{lower_singular}"
    }};
  }}

  // Replaces a {singular} with the body.
  rpc Replace{singular}({singular}) returns ({singular}) {{
    option (google.api.http) = {{
      put: "/v1/svc{n}/{{name=projects/*/{plural_lower}/*}}:replace"
      body: "*"
    }};
  }}

  // Deletes a {singular}.
  rpc Delete{singular}(Delete{singular}Request) returns (google.protobuf.Empty) {{
    option (google.api.http) = {{delete: "/v1/svc{n}/{{name=projects/*/{plural_lower}/*}}"}};
  }}

  // Gets several {plural_lower} named by `?names=`.
  rpc BatchGet{plural}(BatchGet{plural}Request) returns (BatchGet{plural}Response) {{
    option (google.api.http) = {{get: "/v1/svc{n}/{{parent=projects/*}}/{plural_lower}:batchGet"}};
  }}

  // Searches {plural_lower}; the whole request is the body.
  rpc Search{plural}(Search{plural}Request) returns (List{plural}Response) {{
    option (google.api.http) = {{
      post: "/v1/svc{n}/{plural_lower}:search"
      body: "*"
    }};
  }}

  // Moves a {singular} to another parent.
  rpc Move{singular}(Move{singular}Request) returns ({singular}) {{
    option (google.api.http) = {{
      post: "/v1/svc{n}/{{name=projects/*/{plural_lower}/*}}:move"
      body: "*"
      additional_bindings {{post: "/v1/svc{n}/{plural_lower}/{{id}}:move" body: "*"}}
    }};
  }}

  // Usage statistics of a {singular}.
  rpc Get{singular}Stats(Get{singular}StatsRequest) returns ({singular}Stats) {{
    option (google.api.http) = {{
      get: "/v1/svc{n}/{plural_lower}/{{id}}/stats"
      additional_bindings {{custom: {{kind: "REPORT" path: "/v1/svc{n}/{plural_lower}/{{id}}/stats"}}}}{extra}
    }};
  }}
"""

# The first collection's stats are also served under a `**` template.
DEEP_BINDING = '\n      additional_bindings {{get: "/v1/svc{n}/archive/{{path=**}}"}}'


def snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def service_file(index: int) -> str:
    n = f"{index:02d}"
    parts = [HEADER.format(n=n)]
    for plural_lower, singular in COLLECTIONS:
        parts.append(
            RESOURCE.format(
                n=n,
                singular=singular,
                plural=singular + "s",
                lower=plural_lower,
                lower_singular=snake(singular),
            )
        )
    parts.append(f"\n// Synthetic service {n}: {len(COLLECTIONS) * METHODS_PER_COLLECTION} methods.\n")
    parts.append(f"service Service{n} {{")
    for position, (plural_lower, singular) in enumerate(COLLECTIONS):
        extra = DEEP_BINDING.format(n=n) if position == 0 else ""
        parts.append(
            SERVICE_METHODS.format(
                n=n,
                singular=singular,
                plural=singular + "s",
                plural_lower=plural_lower,
                lower_singular=snake(singular),
                extra=extra,
            ).rstrip("\n")
        )
    parts.append("}\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path, help="include directory to write into")
    parser.add_argument("--services", type=int, default=50, help="services of 20 methods (50)")
    args = parser.parse_args()
    if not 1 <= args.services <= 100:
        parser.error("--services must be 1..100")
    for index in range(args.services):
        relative = f"synth/svc{index:02d}/v1/svc{index:02d}.proto"
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(service_file(index))
        print(relative)


if __name__ == "__main__":
    main()
