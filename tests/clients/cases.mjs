// The calls every connect-es transport makes through the proxy to the echo upstream, shared by
// the Node.js driver (connect-node) and the browser page (connect-web). Each case throws when
// the proxy's answer differs from what the echo upstream sends; the driver records which passed.

import { Code, ConnectError, createClient, encodeBinaryHeader } from "@connectrpc/connect";
import { create, equals, toBinary } from "@bufbuild/protobuf";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  EchoSchema,
  EchoService,
  Genre,
  StreamRequestSchema,
} from "./gen/echo/v1/echo_pb.js";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { Nowhere } from "./gen/unknown/v1/unknown_pb.js";

export { Code, ConnectError };

/** Fails the case with `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

/** Fails the case unless `actual` equals `expected` (as JSON). */
export function same(actual, expected, what) {
  const a = JSON.stringify(actual, jsonReplacer);
  const e = JSON.stringify(expected, jsonReplacer);
  check(a === e, `${what}: expected ${e}, got ${a}`);
}

function jsonReplacer(_key, value) {
  if (typeof value === "bigint") {
    return value.toString();
  }
  if (value instanceof Uint8Array) {
    return Array.from(value);
  }
  return value;
}

/** The error a call must fail with: a ConnectError with `code` (and `message` when given). */
export async function rejects(promise, code, message) {
  try {
    await promise;
  } catch (e) {
    const err = ConnectError.from(e);
    check(
      err.code === code,
      `expected code ${Code[code]}, got ${Code[err.code]} (${err.rawMessage})`,
    );
    if (message !== undefined) {
      same(err.rawMessage, message, "error message");
    }
    return err;
  }
  throw new Error(`expected the call to fail with ${Code[code]}, it succeeded`);
}

/** An Echo with a value in fields of every kind: scalars, 64-bit, bytes, maps, WKTs, oneof. */
export function richEcho(id) {
  return create(EchoSchema, {
    id,
    name: "protocol clients",
    num: -7,
    big: 9007199254740993n,
    ubig: 18446744073709551615n,
    ratio: 0.25,
    flag: true,
    data: new Uint8Array([0, 1, 2, 250, 255]),
    genre: Genre.POETRY,
    nested: { name: "inner", count: 3, notes: ["a", "b"] },
    tags: ["x", "y"],
    nums: [1, 2, 3],
    labels: { k: "v", "key with space": "é" },
    counts: { 1: 10n, 2: 20n },
    when: create(TimestampSchema, { seconds: 1700000000n, nanos: 5000 }),
    wait: create(DurationSchema, { seconds: 3n, nanos: 500000000 }),
    maybeText: "wrapped",
    maybeNum: 0,
    optNum: 0,
    choice: { case: "text", value: "chosen" },
    renamed: "custom json name",
    quoted: 'say "hi"',
  });
}

/** `fields` of `message` as JSON-safe values, for error messages. */
function describe(message) {
  return JSON.stringify(message, jsonReplacer);
}

/** Bytes a test can recognise, `n` of them. */
function pattern(n) {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    bytes[i] = (i * 31 + 7) & 0xff;
  }
  return bytes;
}

/** An async iterable of requests for a bidi call that sends each one only after the reply to
 * the one before has arrived: the call is full duplex or it stalls. */
function lockstep(messages) {
  let release;
  let replied = Promise.resolve();
  const next = () => {
    replied = new Promise((resolve) => {
      release = resolve;
    });
  };
  const requests = (async function* () {
    for (const message of messages) {
      await replied;
      next();
      yield message;
    }
  })();
  return { requests, replyArrived: () => release?.() };
}

/**
 * The cases for one transport. `caps` says what the transport can do: `clientStreaming` (and
 * bidi) over HTTP/2 only; `get` for a Connect transport with `useHttpGet`.
 */
export function transportCases(transport, caps = {}) {
  const client = createClient(EchoService, transport);
  const cases = [];
  const add = (name, run) => cases.push({ name, run });

  add("unary", async () => {
    const sent = richEcho("unary");
    const reply = await client.get(sent);
    check(equals(EchoSchema, reply, sent), `echoed ${describe(reply)}`);
  });

  add("unary large message (1 MiB)", async () => {
    const sent = create(EchoSchema, { id: "large", data: pattern(1 << 20) });
    const reply = await client.get(sent);
    check(equals(EchoSchema, reply, sent), `echoed ${reply.data.length} bytes`);
  });

  add("unary empty message", async () => {
    const reply = await client.get(create(EchoSchema));
    check(equals(EchoSchema, reply, create(EchoSchema)), `echoed ${describe(reply)}`);
  });

  add("request metadata, response headers and trailers", async () => {
    let header;
    let trailer;
    const reply = await client.headers(
      { replyHeaders: { "x-echo": "shown" }, replyTrailers: { "x-trail": "end" } },
      {
        headers: {
          "x-user": "alice",
          "x-blob-bin": encodeBinaryHeader(new Uint8Array([0, 1, 2, 255])),
        },
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      },
    );
    const received = (key) => reply.received.filter((e) => e.key === key).map((e) => e.value);
    same(received("x-user"), ["alice"], "x-user the upstream received");
    same(received("x-blob-bin"), ["AAEC/w=="], "x-blob-bin the upstream received (base64)");
    same(header?.get("x-echo"), "shown", "response header x-echo");
    same(trailer?.get("x-trail"), "end", "response trailer x-trail");
  });

  add("error code and message", async () => {
    await rejects(client.fail({ code: Code.NotFound, message: "no such shelf" }), Code.NotFound, "no such shelf");
  });

  add("error with details (google.rpc.ErrorInfo and an unknown Any)", async () => {
    const err = await rejects(
      client.fail({ code: Code.FailedPrecondition, message: "with-details" }),
      Code.FailedPrecondition,
      "with-details",
    );
    const infos = err.findDetails(ErrorInfoSchema);
    same(infos.length, 1, "ErrorInfo details");
    same(infos[0].reason, "TEST_REASON", "ErrorInfo.reason");
    same(infos[0].domain, "protogate.test", "ErrorInfo.domain");
    same(infos[0].metadata, { key: "value" }, "ErrorInfo.metadata");
    const types = err.details.map((d) => ("desc" in d ? d.desc.typeName : d.type));
    same(types, ["google.rpc.ErrorInfo", "unknown.v1.Thing"], "detail types");
    const unknown = err.details[1];
    same(Array.from(unknown.value), [1, 2, 3], "the unknown detail's bytes");
  });

  add("error keeps response headers and trailers as metadata", async () => {
    const err = await rejects(
      client.headers({
        failCode: Code.PermissionDenied,
        replyHeaders: { "x-echo": "shown" },
        replyTrailers: { "x-trail": "end" },
      }),
      Code.PermissionDenied,
      "failed as asked",
    );
    same(err.metadata.get("x-echo"), "shown", "error metadata x-echo (a header)");
    same(err.metadata.get("x-trail"), "end", "error metadata x-trail (a trailer)");
  });

  add("unknown method is UNIMPLEMENTED", async () => {
    const nowhere = createClient(Nowhere, transport);
    await rejects(nowhere.call({}), Code.Unimplemented);
  });

  add("deadline the client enforces (timeoutMs)", async () => {
    const started = Date.now();
    await rejects(client.sleep({ millis: 5000 }, { timeoutMs: 300 }), Code.DeadlineExceeded);
    check(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  });

  add("deadline within reach is kept (timeoutMs)", async () => {
    await client.sleep({ millis: 20 }, { timeoutMs: 10000 });
  });

  add("deadline the server enforces (only the protocol's timeout header)", async () => {
    // No client-side timer: only the header tells the proxy and the upstream.
    const started = Date.now();
    await rejects(
      client.sleep({ millis: 5000 }, { headers: caps.timeoutHeader }),
      Code.DeadlineExceeded,
    );
    check(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  });

  add("server streaming", async () => {
    let header;
    let trailer;
    const replies = [];
    for await (const reply of client.stream(
      {
        id: "s1",
        count: 5,
        intervalMs: 5,
        replyHeaders: { "x-echo": "stream" },
        replyTrailers: { "x-trail": "done" },
      },
      { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
    )) {
      replies.push(reply);
    }
    same(replies.map((r) => [r.id, r.index, r.nested?.name]), [0, 1, 2, 3, 4].map((i) => ["s1", i, `nested ${i}`]), "replies");
    same(header?.get("x-echo"), "stream", "response header x-echo");
    same(trailer?.get("x-trail"), "done", "response trailer x-trail");
  });

  add("server streaming, many large messages", async () => {
    let count = 0;
    for await (const reply of client.stream({ id: "big", count: 40, padding: 100000 })) {
      check(reply.index === count && reply.padding.length === 100000, `reply ${count}: ${reply.index}, ${reply.padding.length} bytes`);
      count++;
    }
    same(count, 40, "replies");
  });

  add("server streaming with no messages", async () => {
    const replies = [];
    for await (const reply of client.stream({ id: "none", count: 0 })) {
      replies.push(reply);
    }
    same(replies.length, 0, "replies");
  });

  add("server streaming fails midway: messages, then the status", async () => {
    const replies = [];
    const err = await rejects(
      (async () => {
        for await (const reply of client.stream(
          create(StreamRequestSchema, { id: "mid", count: 5, failCode: Code.ResourceExhausted, failAfter: 2 }),
        )) {
          replies.push(reply.index);
        }
      })(),
      Code.ResourceExhausted,
      "failed after 2 replies",
    );
    same(replies, [0, 1], "replies before the error");
    same(err.code, Code.ResourceExhausted, "code");
  });

  add("server streaming fails before any message", async () => {
    const replies = [];
    await rejects(
      (async () => {
        for await (const reply of client.stream({ id: "early", count: 5, failCode: Code.NotFound, failAfter: -1 })) {
          replies.push(reply.index);
        }
      })(),
      Code.NotFound,
      "failed before streaming",
    );
    same(replies, [], "replies before the error");
  });

  add("server streaming deadline", async () => {
    const replies = [];
    await rejects(
      (async () => {
        for await (const reply of client.stream({ id: "slow", count: 50, intervalMs: 100 }, { timeoutMs: 450 })) {
          replies.push(reply.index);
        }
      })(),
      Code.DeadlineExceeded,
    );
    check(replies.length >= 1 && replies.length < 50, `${replies.length} replies before the deadline`);
  });

  if (caps.clientStreaming) {
    add("client streaming", async () => {
      const reply = await client.collect(
        (async function* () {
          for (const id of ["c1", "c2", "c3"]) {
            yield create(EchoSchema, { id, num: id.length });
          }
        })(),
      );
      same(reply.count, 3, "count");
      same(reply.received.map((e) => e.id), ["c1", "c2", "c3"], "received ids");
    });

    add("client streaming error", async () => {
      await rejects(
        client.collect(
          (async function* () {
            yield create(EchoSchema, { id: "c1" });
            yield create(EchoSchema, { id: "c2", name: "fail:10" });
          })(),
        ),
        Code.Aborted,
        "failed as asked",
      );
    });

    add("bidi streaming, full duplex", async () => {
      const ids = ["b1", "b2", "b3", "b4"];
      const { requests, replyArrived } = lockstep(ids.map((id) => create(EchoSchema, { id })));
      const replies = [];
      for await (const reply of client.chat(requests)) {
        replies.push(reply.id);
        replyArrived();
      }
      same(replies, ids, "replies");
    });

    add("bidi streaming error after echoes", async () => {
      const { requests, replyArrived } = lockstep([
        create(EchoSchema, { id: "b1" }),
        create(EchoSchema, { id: "b2", name: "fail:9" }),
      ]);
      const replies = [];
      await rejects(
        (async () => {
          for await (const reply of client.chat(requests)) {
            replies.push(reply.id);
            replyArrived();
          }
        })(),
        Code.FailedPrecondition,
        "failed as asked",
      );
      same(replies, ["b1"], "replies before the error");
    });
  }

  // `Get` is marked NO_SIDE_EFFECTS in echo.proto: Connect clients may call it with GET.
  if (caps.get) {
    const getClient = createClient(EchoService, caps.get);
    add("unary GET (message in the query)", async () => {
      const sent = richEcho("get");
      const reply = await getClient.get(sent);
      check(equals(EchoSchema, reply, sent), `echoed ${describe(reply)}`);
    });
  }
  if (caps.getCompressed) {
    const getClient = createClient(EchoService, caps.getCompressed);
    add("unary GET, gzip-compressed message (compression=gzip, base64=1)", async () => {
      const sent = create(EchoSchema, { id: "get-gzip", name: "z".repeat(4000) });
      const reply = await getClient.get(sent);
      check(equals(EchoSchema, reply, sent), `echoed ${reply.name.length} characters`);
    });
  }
  if (caps.compressed) {
    const gzipClient = createClient(EchoService, caps.compressed);
    add("unary, gzip-compressed request and response", async () => {
      const sent = create(EchoSchema, { id: "gzip", name: "z".repeat(20000), data: pattern(5000) });
      const reply = await gzipClient.get(sent);
      check(equals(EchoSchema, reply, sent), `echoed ${reply.name.length} characters`);
    });
    add("server streaming, gzip-compressed", async () => {
      let count = 0;
      for await (const reply of gzipClient.stream({ id: "gz", count: 3, padding: 5000 })) {
        check(reply.padding.length === 5000, `padding ${reply.padding.length}`);
        count++;
      }
      same(count, 3, "replies");
    });
  }
  return cases;
}

/** The encoded size of an Echo, for the drivers' reports. */
export function encodedSize(message) {
  return toBinary(EchoSchema, message).length;
}

/**
 * Runs `cases` one after another, each bounded by `timeoutMs` so that a hang is a failure, and
 * returns one `{name, ok, ms, error}` per case, names prefixed with `prefix`.
 */
export async function runCases(prefix, cases, { timeoutMs = 20000, log = () => {} } = {}) {
  const results = [];
  for (const c of cases) {
    const name = `${prefix}: ${c.name}`;
    const started = Date.now();
    let timer;
    try {
      await Promise.race([
        c.run(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      results.push({ name, ok: true, ms: Date.now() - started });
    } catch (e) {
      const error = e instanceof ConnectError ? `ConnectError ${Code[e.code]}: ${e.rawMessage}` : String(e?.message ?? e);
      results.push({ name, ok: false, ms: Date.now() - started, error });
    } finally {
      clearTimeout(timer);
    }
    const last = results[results.length - 1];
    log(`${last.ok ? "ok  " : "FAIL"} ${name}${last.ok ? "" : ` — ${last.error}`}`);
  }
  return results;
}
