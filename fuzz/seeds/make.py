#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the project's own test inputs: the
path templates of the example, test and vendored real-world protos, the HttpRule YAML fixtures,
and request and reply shapes of the example API. Run from anywhere; it rewrites the seeds (files
named seed-*) and leaves the inputs libFuzzer added alone."""

import base64
import glob
import gzip
import os
import re
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, seeds):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "seed-*")):
        os.remove(old)
    for i, seed in enumerate(seeds):
        if isinstance(seed, str):
            seed = seed.encode()
        with open(os.path.join(folder, f"seed-{i:03}"), "wb") as f:
            f.write(seed)


def protos():
    for pattern in ["examples/proto/**/*.proto", "tests/proto/**/*.proto",
                    "codegen/tests/fixtures/**/*.proto"]:
        yield from sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True))


# --- template: every distinct template, the interesting ones first, plus known-bad ones.
templates = set()
for path in protos():
    text = open(path, encoding="utf-8").read()
    templates.update(re.findall(r'\b(?:get|put|post|delete|patch|path)\s*:\s*"(/[^"]*)"', text))
ranked = sorted(templates, key=lambda t: (-(("**" in t) * 4 + (":" in t) * 3 + t.count("{") * 2
                                           + ("=" in t)), t))
bad = ["", "v1", "/", "//", "/v1/", "/v1//a", "/{", "/{}", "/{a=}", "/{a.}", "/{a=**}/{b=**}",
       "/a/**/**", "/{a={b}}", "/a:b:c", "/a:", "/a/*b", "/%zz", "/{a}/{a}", "/a}", "/a?b",
       "/{x=a/*}:v/b", "/é"]
write("template", ranked[:40] + bad)

# --- http_rules_yaml: the generator's fixtures, and the shapes its tests use.
yamls = [open(p, encoding="utf-8").read()
         for p in sorted(glob.glob(os.path.join(ROOT, "codegen/tests/fixtures/http_rules/*.yaml")))]
yamls += [
    "type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n"
    "    - selector: a.B.C\n      get: /v1/{name=x/*}\n      additional_bindings:\n"
    "        - post: /v1/x\n          body: \"*\"\n",
    "http:\n  rules:\n    - &r {selector: a.B.C, get: /a}\n    - *r\n",
    "http: {rules: [{selector: a.B.C, custom: {kind: HEAD, path: /a}, response_body: x}]}\n",
    "---\nhttp:\n  rules: []\n---\nhttp: {}\n",
    "a: &a [*a]\n",
    "http:\n  rules:\n    - selector: a.B.C\n      get: /a\n      get: /b\n",
    "http:\n  rules:\n    - selector: !!str a.B.C\n      patch: '/v1/{book.name=shelves/*/books/*}'\n      body: book\n",
]
write("http_rules_yaml", yamls)

# --- route: method, space, target, newline, body.
routes = [
    "GET /v1/greeter/world", "POST /v1/greeter\n{\"name\":\"w\"}", "GET /v1/shelves",
    "GET /v1/shelves?pageSize=2&pageToken=x", "POST /v1/shelves\n{\"id\":\"s\"}",
    "GET /v1/shelves/default", "GET /v1/shelves/s1", "DELETE /v1/shelves/s1?force=true",
    "GET /v1/shelves/s1/books?filter.author=a&labels[k]=v", "SEARCH /v1/shelves/s1/books",
    "POST /v1/shelves/s1/books?validateOnly=true\n{\"title\":\"t\"}",
    "GET /v1/shelves/s1/books/b1", "GET /v1/shelves/s1/books/b1/details?name=x",
    "PATCH /v1/shelves/s1/books/b1\n{\"title\":\"t\"}", "PUT /v1/shelves/s1/books/b1\n{}",
    "DELETE /v1/shelves/s1/books/b1", "POST /v1/shelves/s1/books/b1:move\n{\"targetShelf\":\"s2\"}",
    "GET /v1/shelves/s1/books/b1/author", "GET /v1/shelves/s1/books/b1/pages/3",
    "GET /v1/attachments/a/b/c.txt", "GET /v1/attachments", "GET /v1/shelves/s1/books:stream?alt=sse",
    "HEAD /v1/shelves", "OPTIONS /v1/shelves", "PUT /v1/shelves", "GET /healthz", "GET /readyz",
    "GET /metrics", "GET /openapi.json", "GET /v1/shelves/s%2F1/books/b%201",
    "GET /v1/shelves//books", "GET /v1/shelves/s1/", "GET /v1/shelves/s1:undelete",
    "GET /v1/shelves?$alt=json;enum-encoding=int", "BREW /v1/shelves",
]
write("route", routes)

# --- path_query: binding byte, variables and query separated by newlines.
path_queries = [
    b"\x00world", b"\x00w%C3%A9rld", b"\x00a%2Fb", b"\x00bad%zz", b"\x00%FF", b"\x01s1",
    b"\x01default", b"\x02s1\n\n\nforce=true", b"\x03s1\nb1\n42", b"\x03s1\nb1\n-1",
    b"\x03s1\nb1\n4294967296", b"\x04s%2F1\nb+1", b"\x05a/b%2Fc/d", b"\x05",
    b"\x06s1\n\n\npageSize=10&pageToken=a+b%20c&filter.author=x&filter.genres=GENRE_FICTION"
    b"&filter.minPrice=1.5&filter.inPrint=true&filter.publishedAfter=2020-01-01T00:00:00Z"
    b"&filter.maxReadingTime=1.5s&readMask=title,author.displayName&isbn13s=1&isbn13s=2"
    b"&includeBorrowed=false&labels[a]=b&labels[c%5D]=d",
    b"\x07s1\n\n\npage_size=1&page_size=2", b"\x08s1\n\n\nalt=sse&filter.genres=2",
    b"\x09s1\nb1\n\nname=n&shelfId=x", b"\x06s1\n\n\n$alt=json;enum-encoding=int&unknown=1",
]
write("path_query", path_queries)

# --- json_body: message byte, options byte, JSON.
book = (b'{"name":"shelves/s1/books/b1","title":"T","author":{"displayName":"A","born":1950},'
        b'"genre":"GENRE_FICTION","pages":10,"copiesPrinted":"123","price":9.5,"rating":4.5,'
        b'"inPrint":true,"coverThumbnail":"AAEC","tags":["a","b"],"labels":{"k":"v"},'
        b'"published":"2020-01-01T00:00:00Z","readingTime":"3600s","subtitle":"s",'
        b'"series":"x","edition":2,"isbn13":"9780000000000","secondaryGenres":["GENRE_POETRY",3],'
        b'"shelfPosition":"top"}')
jsons = [
    b"\x00\x00" + book, b"\x00\x0e" + book.replace(b"GENRE_FICTION", b"1"),
    b'\x00\x02{"price":"NaN","rating":"-Infinity","copies_printed":-9223372036854775808}',
    b'\x00\x00{"published":"1970-01-01T00:00:00.000000001+01:00","readingTime":"-0.5s"}',
    b'\x00\x01{"unknown":{"a":[1,{"b":null}]},"title":"\\u00e9\\ud83d\\ude00"}',
    b'\x00\x00{"borrower":"x","shelfPosition":"y"}', b'\x00\x00{"series":null,"edition":null}',
    b'\x01\x00{"parent":"shelves/s1","pageSize":5,"filter":{"genres":["GENRE_SCIENCE"],'
    b'"minPrice":1e3,"inPrint":false,"publishedAfter":"2000-02-29T12:00:00Z",'
    b'"maxReadingTime":"1.000000001s"},"readMask":"title,author.displayName",'
    b'"labels":{"":""},"isbn13s":["1",2],"includeBorrowed":true}',
    b'\x02\x06{"books":[{"title":"a"},{}],"nextPageToken":"n","query":{"pageSize":1}}',
    b'\x03\x00{"book":{"name":"n"},"updateMask":"title,labels"}',
    b'\x04\x00{"parent":"p","book":{},"validateOnly":true}',
    b'\x06\x00{"id":"s","theme":"t","bookCount":-1}', b'\x07\x00{"shelves":[{"id":"1"}]}',
    b'\x08\x00{"number":4294967295,"text":""}', b'\x09\x00{"path":"a/b","data":"_-8="}',
    b'\x0a\x00{"name":"w"}', b'\x0b\x00{"code":3,"message":"m","details":[]}',
    b'\x0c\x00{"fieldViolations":[{"field":"f","description":"d"}]}',
    b'\x0d\x00{"reason":"R","domain":"d","metadata":{"k":"v"}}',
    b'\x00\x00[', b'\x00\x00{"title":"a","title":"b"}', b'\x00\x00' + b'{"author":' * 120,
]
write("json_body", jsons)


# --- grpc_reply: request byte, flags, status, headers, trailers, cuts, body.
def frame(message, flag=0):
    return bytes([flag]) + struct.pack(">I", len(message)) + message


def field(tag, value):
    return bytes([tag << 3 | 2, len(value)]) + value


shelf = field(1, b"s1") + field(2, b"theme") + bytes([3 << 3, 7])
book_msg = field(1, b"shelves/s1/books/b1") + field(2, b"Title") + field(3, field(1, b"A"))
list_books = field(1, book_msg) + field(1, book_msg) + field(2, b"next")
bad_request = field(1, field(1, b"name") + field(2, b"is required"))
any_detail = field(1, b"type.googleapis.com/google.rpc.BadRequest") + field(2, bad_request)
status = bytes([1 << 3, 3]) + field(2, b"bad") + field(3, any_detail)
details = base64.b64encode(status)


def reply(which, flags, headers, trailers, body, cuts=(), http_status=0):
    return (bytes([which, flags, http_status]) + headers + b"\n" + trailers + b"\n"
            + bytes([len(cuts)]) + bytes(cuts) + body)


ok = b"grpc-status: 0"
replies = [
    reply(0, 0, b"", ok, frame(shelf)),
    reply(0, 0, b"x-http-code: 201", ok + b"\ngrpc-trailer-x: y", frame(shelf), [3, 4]),
    reply(1, 0, b"grpc-metadata-a: b", ok, frame(list_books), [1, 2, 7]),
    reply(2, 0, b"", ok, frame(book_msg) * 3, [5, 0, 20]),
    reply(3, 0, b"", b"grpc-status: 13\ngrpc-message: boom", frame(book_msg)),
    reply(4, 0, b"", ok, frame(book_msg)), reply(5, 0, b"", ok + b"\nx-t: 1", frame(list_books)),
    reply(6, 8, b"", b"", frame(book_msg) + frame(b"\x0a", 0)[:3]),
    reply(7, 0, b"", ok, frame(field(1, b"a/b") + field(2, b"\x00\x01"))),
    reply(0, 0, b"grpc-status: 3\ngrpc-message: bad%20request\ngrpc-status-details-bin: " + details, b"", b""),
    reply(0, 0, b"", b"grpc-status: 9\ngrpc-status-details-bin: " + details, b""),
    reply(0, 0, b"grpc-encoding: gzip", ok, frame(shelf, 1)),
    # Gzipped messages, as an upstream that compresses sends them: whole, cut, and mixed with
    # uncompressed ones in one stream.
    reply(0, 0, b"grpc-encoding: gzip", ok, frame(gzip.compress(shelf, mtime=0), 1)),
    reply(2, 0, b"grpc-encoding: gzip", ok,
          frame(gzip.compress(book_msg, mtime=0), 1) + frame(book_msg)
          + frame(gzip.compress(book_msg, mtime=0), 1), [7, 3, 30]),
    reply(3, 0, b"grpc-encoding: gzip", ok, frame(gzip.compress(book_msg, mtime=0)[:-4], 1)),
    reply(0, 0, b"", ok, frame(shelf, 2)), reply(0, 2, b"", b"", frame(shelf), http_status=204),
    reply(2, 0, b"", ok, b"\x00\xff\xff\xff\xff"), reply(0, 4, b"", b"", b""),
    reply(1, 0, b"", ok, frame(b"\xff\xff")), reply(2, 0, b"", b"grpc-status: 14", frame(book_msg), [2]),
]
write("grpc_reply", replies)

# --- metadata: flags, forward list, drop list, query, duration, header lines.
metas = [
    b"\x00\n\n\n30s\ngrpc-timeout: 100m\nauthorization: Bearer x\nx-request-id: 1",
    b"\x01x-user, x-internal-*\nx-internal-secret\nalt=sse\n1.5m\nx-user: a\nx-internal-a: b"
    b"\nx-internal-secret: c\ngrpc-metadata-x-user: d",
    b"\x00\n\n$alt=json;enum-encoding=int\n250ms\ngrpc-timeout: 99999999H\nconnection: x-hop, close\nx-hop: 1",
    b"\x00*\nproxy-*\n%24alt=proto\n0s\ngrpc-timeout: 1n\nx-data-bin: AAEC, _-8\ntrace-bin: ###",
    b"\x02\n\nalt=&alt=\n2h\ngrpc-timeout: 123456789S\nhost: example.com\nx-forwarded-for: 10.0.0.1",
    b"\x00grpc-x\n\n\n1.0000000001s\ngrpc-timeout: 5\ngrpc-metadata-: x\nx-http-code: 201\nte: trailers",
    b"\x00\n\n\n\ngrpc-timeout: -1S\ngrpc-status: 0\ncontent-type: application/grpc",
]
write("metadata", metas)

# --- stream_split: cuts, then the body.
streams = [
    b"\x00" + b'{"title":"a"}\n{"title":"b"}\n',
    b"\x03\x05\x01\x00" + b'{"title":"a"}{"title":"b"} {"tags":["x}","y{"]}',
    b"\x01\x02" + b'{\n  "title": "pretty",\n  "labels": {"k": "v\\"}"}\n}\n',
    b"\x00" + b'"a" 1 true null [1]',
    b"\x02\x01\x01" + b'{"title":"\xc3\xa9"}\n{"pages":"x"}\n{"title":"never"}',
    b"\x00" + b'{"title":"unterminated',
    b"\x00" + b"{" + b'"title":"' + b"x" * 300 + b'"}',
    b"\x00" + b"\n\n  \r\n",
    b"\x00" + b'{"author":{"displayName":"a"}}]}{"title":"b"}',
]
write("stream_split", streams)
