// The page a real browser runs against the proxy on another origin (tests/tests/protocol_clients.rs
// serves it, bundled by install.sh with esbuild): Google's gRPC-Web client (npm `grpc-web`)
// in its text (`application/grpc-web-text`) and binary (`application/grpc-web+proto`) modes,
// and @connectrpc/connect-web's gRPC-Web and Connect transports over the browser's fetch().
// It posts its report, {"cases": [{"name", "ok", "ms", "error"?}]}, to `/report` on its own
// origin. The proxy's URL is the `proxy` query parameter; the Connect transport calls the one
// in `connect` (a proxy whose CORS settings expose the metadata headers to the page).
//
// Google's code generator (protoc-gen-grpc-web) comes only as a binary that its npm package
// downloads from outside the registry, so the client below is what it generates, written out:
// one `MethodDescriptor` per method around `GrpcWebClientBase`, with the messages of
// @bufbuild/protoc-gen-es.

import { create, createRegistry, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { GrpcWebClientBase, MethodDescriptor, MethodType } from "grpc-web";
import { check, richEcho, runCases, same, transportCases } from "../cases.mjs";
import {
  EchoSchema,
  FailRequestSchema,
  HeadersReplySchema,
  HeadersRequestSchema,
  SleepRequestSchema,
  StreamReplySchema,
  StreamRequestSchema,
} from "../gen/echo/v1/echo_pb.js";
import { ErrorInfoSchema, file_google_rpc_error_details } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

const params = new URLSearchParams(location.search);
const proxy = params.get("proxy");
const connectProxy = params.get("connect") ?? proxy;

/** What protoc-gen-grpc-web generates for a method: its descriptor. */
function method(name, kind, input, output) {
  return new MethodDescriptor(
    `/echo.v1.EchoService/${name}`,
    kind,
    Object,
    Object,
    (message) => toBinary(input, message),
    (bytes) => fromBinary(output, bytes),
  );
}

const METHODS = {
  get: method("Get", MethodType.UNARY, EchoSchema, EchoSchema),
  headers: method("Headers", MethodType.UNARY, HeadersRequestSchema, HeadersReplySchema),
  fail: method("Fail", MethodType.UNARY, FailRequestSchema, EchoSchema),
  sleep: method("Sleep", MethodType.UNARY, SleepRequestSchema, EchoSchema),
  stream: method("Stream", MethodType.SERVER_STREAMING, StreamRequestSchema, StreamReplySchema),
};
const UNKNOWN = new MethodDescriptor(
  "/unknown.v1.Nowhere/Call",
  MethodType.UNARY,
  Object,
  Object,
  () => new Uint8Array(0),
  () => ({}),
);

/** What protoc-gen-grpc-web generates for the service: a client whose calls report the
 * reply, the response headers and the final status (with its trailers) together. */
class EchoServiceClient {
  constructor(hostname, format) {
    this.hostname = hostname;
    this.client = new GrpcWebClientBase({ format });
  }

  /** A unary call: resolves to {reply, headers, status} or rejects with the RpcError (with
   * the headers and status seen). */
  unary(desc, request, metadata = {}) {
    return new Promise((resolve, reject) => {
      let headers = {};
      let status;
      let outcome;
      const settle = () => {
        // The callback and the `status` event come in either order: wait for both.
        if (outcome && status !== undefined) {
          outcome.error
            ? reject(Object.assign(outcome.error, { headers, status }))
            : resolve({ reply: outcome.reply, headers, status });
        }
      };
      const call = this.client.rpcCall(
        this.hostname + desc.getName(),
        request,
        metadata,
        desc,
        (error, reply) => {
          outcome = { error, reply };
          if (error) {
            // A failed call may end without a `status` event.
            status ??= null;
          }
          settle();
        },
      );
      call.on("metadata", (m) => (headers = m));
      call.on("status", (s) => {
        status = s;
        settle();
      });
    });
  }

  /** A server-streaming call: resolves to {replies, headers, status, error}. */
  serverStreaming(desc, request, metadata = {}) {
    return new Promise((resolve) => {
      const replies = [];
      let headers = {};
      let status;
      let error;
      const call = this.client.serverStreaming(this.hostname + desc.getName(), request, metadata, desc);
      call.on("data", (reply) => replies.push(reply));
      call.on("metadata", (m) => (headers = m));
      call.on("status", (s) => (status = s));
      call.on("error", (e) => {
        error = e;
        resolve({ replies, headers, status, error });
      });
      call.on("end", () => resolve({ replies, headers, status, error }));
    });
  }
}

/** The code a grpc-web call failed with (or 0). */
async function codeOf(promise) {
  try {
    await promise;
    return 0;
  } catch (e) {
    return e.code;
  }
}

const registry = createRegistry(file_google_rpc_error_details);

function googleCases(format) {
  const client = new EchoServiceClient(proxy, format);
  const cases = [];
  const add = (name, run) => cases.push({ name, run });

  add("unary", async () => {
    const sent = richEcho("grpc-web");
    const { reply } = await client.unary(METHODS.get, sent);
    check(equals(EchoSchema, reply, sent), "the echo differs");
  });

  add("unary large message (1 MiB)", async () => {
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 0xff);
    const sent = create(EchoSchema, { id: "large", data });
    const { reply } = await client.unary(METHODS.get, sent);
    check(equals(EchoSchema, reply, sent), `echoed ${reply.data.length} bytes`);
  });

  add("request metadata, response headers and trailers", async () => {
    const request = create(HeadersRequestSchema, {
      replyHeaders: { "x-echo": "shown" },
      replyTrailers: { "x-trail": "end" },
    });
    const { reply, headers, status } = await client.unary(METHODS.headers, request, { "x-user": "browser-user" });
    same(reply.received.filter((e) => e.key === "x-user").map((e) => e.value), ["browser-user"], "x-user the upstream received");
    same(headers["x-echo"], "shown", "response header x-echo");
    same(status?.code, 0, "status code");
    same(status?.metadata?.["x-trail"], "end", "trailer x-trail in the status");
  });

  add("error code and message", async () => {
    const request = create(FailRequestSchema, { code: 5, message: "no such shelf" });
    try {
      await client.unary(METHODS.fail, request);
    } catch (e) {
      same([e.code, e.message], [5, "no such shelf"], "code and message");
      return;
    }
    throw new Error("the call succeeded");
  });

  add("error details in grpc-status-details-bin", async () => {
    const request = create(FailRequestSchema, { code: 9, message: "with-details" });
    try {
      await client.unary(METHODS.fail, request);
    } catch (e) {
      same(e.code, 9, "code");
      const bin = e.metadata?.["grpc-status-details-bin"];
      check(typeof bin === "string", `no grpc-status-details-bin in ${JSON.stringify(e.metadata)}`);
      const status = fromBinary(StatusSchema, base64Decode(bin));
      same([status.code, status.message, status.details.length], [9, "with-details", 2], "google.rpc.Status");
      const info = anyUnpack(status.details[0], registry);
      check(info && equals(ErrorInfoSchema, info, create(ErrorInfoSchema, { reason: "TEST_REASON", domain: "protogate.test", metadata: { key: "value" } })), "ErrorInfo");
      return;
    }
    throw new Error("the call succeeded");
  });

  add("unknown method is UNIMPLEMENTED", async () => {
    const code = await codeOf(client.unary(UNKNOWN, {}));
    same(code, 12, "code");
  });

  add("deadline (grpc-timeout from the deadline metadata)", async () => {
    const started = Date.now();
    const code = await codeOf(
      client.unary(METHODS.sleep, create(SleepRequestSchema, { millis: 5000 }), { deadline: String(Date.now() + 300) }),
    );
    same(code, 4, "code");
    check(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  });

  add("server streaming", async () => {
    const request = create(StreamRequestSchema, {
      id: "web",
      count: 5,
      intervalMs: 5,
      replyHeaders: { "x-echo": "stream" },
      replyTrailers: { "x-trail": "done" },
    });
    const { replies, headers, status, error } = await client.serverStreaming(METHODS.stream, request);
    same(error?.message, undefined, "error");
    same(replies.map((r) => [r.id, r.index]), [0, 1, 2, 3, 4].map((i) => ["web", i]), "replies");
    same(headers["x-echo"], "stream", "response header x-echo");
    same([status?.code, status?.metadata?.["x-trail"]], [0, "done"], "status and trailer x-trail");
  });

  add("server streaming fails midway: messages, then the status", async () => {
    const request = create(StreamRequestSchema, { id: "mid", count: 5, failCode: 8, failAfter: 2 });
    const { replies, error } = await client.serverStreaming(METHODS.stream, request);
    same(replies.map((r) => r.index), [0, 1], "replies before the error");
    same([error?.code, error?.message], [8, "failed after 2 replies"], "error");
  });

  add("server streaming fails before any message", async () => {
    const request = create(StreamRequestSchema, { id: "early", count: 5, failCode: 5, failAfter: -1 });
    const { replies, error } = await client.serverStreaming(METHODS.stream, request);
    same(replies.length, 0, "replies");
    same([error?.code, error?.message], [5, "failed before streaming"], "error");
  });
  return cases;
}

async function main() {
  const results = [];
  const log = (line) => console.log(line);
  results.push(...(await runCases("grpc-web (Google)/text", googleCases("text"), { log })));
  results.push(...(await runCases("grpc-web (Google)/binary", googleCases("binary"), { log })));
  for (const useBinaryFormat of [true, false]) {
    const codec = useBinaryFormat ? "proto" : "json";
    const grpcWeb = createGrpcWebTransport({ baseUrl: proxy, useBinaryFormat });
    results.push(
      ...(await runCases(`connect-web grpc-web/${codec}`, transportCases(grpcWeb, { timeoutHeader: { "grpc-timeout": "300m" } }), { log })),
    );
    const connect = (extra = {}) => createConnectTransport({ baseUrl: connectProxy, useBinaryFormat, ...extra });
    results.push(
      ...(await runCases(
        `connect-web connect/${codec}`,
        transportCases(connect(), { timeoutHeader: { "connect-timeout-ms": "300" }, get: connect({ useHttpGet: true }) }),
        { log },
      )),
    );
  }
  return results;
}

let report;
try {
  report = { cases: await main() };
} catch (e) {
  report = { cases: [], error: String(e?.stack ?? e) };
}
document.getElementById("out").textContent = JSON.stringify(report);
await fetch("/report", { method: "POST", body: JSON.stringify(report) });
