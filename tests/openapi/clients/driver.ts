// Calls every operation of the example API through openapi-fetch, typed by the `paths` that
// openapi-typescript generated from the proxy's served document (schema.d.ts beside this file),
// and checks the answers. Compiled with `tsc` (strict), so a call the document does not describe
// fails the build.
//
//     node out/driver.js BASE_URL DOCUMENT
//
// The example upstream must be fresh (its seeded shelves 1 and 2, one book each): the calls
// create, change and delete what they check. Prints one line per operation of the document, `ok`,
// `FAILED` or `missing` (no typed path: the custom SEARCH binding, which OpenAPI cannot name),
// then `N passed, N failed`.

import { readFileSync } from "node:fs";
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

const [base, documentPath] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl: base });

/** What every call returns: the parsed answer or the error, and the HTTP response. */
type Result<T> = { data?: T; error?: unknown; response: Response };

/** The parsed answer of a 200, or an error naming the status and body. */
function ok<T>(result: Result<T>): NonNullable<T> {
  if (result.response.status !== 200 || result.data === undefined || result.data === null) {
    throw new Error(`HTTP ${result.response.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data as NonNullable<T>;
}

function equal(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    throw new Error(`${what}: ${a}, expected ${e}`);
  }
}

const book = { path: { shelf: "1", book: "1" } };

// In the order they run: each sees what the ones before it left.
const calls: [string, () => Promise<void>][] = [
  ["Greeter_SayHello", async () => {
    const reply = ok(await client.GET("/v1/greeter/{name}", { params: { path: { name: "world" } } }));
    equal(reply.message, "Hello world", "message");
  }],
  ["Greeter_SayHello_2", async () => {
    const reply = ok(await client.POST("/v1/greeter", { body: { name: "client" } }));
    equal(reply.message, "Hello client", "message");
  }],
  ["LibraryService_ListShelves", async () => {
    const reply = ok(await client.GET("/v1/shelves", { params: { query: { pageSize: 10 } } }));
    equal(reply.shelves?.map((s) => [s.id, s.theme]), [["1", "Fiction"], ["2", "History"]], "shelves");
  }],
  ["LibraryService_GetDefaultShelf", async () => {
    const shelf = ok(await client.GET("/v1/shelves/default"));
    equal([shelf.id, shelf.theme], ["1", "Fiction"], "shelf");
  }],
  ["LibraryService_GetShelf", async () => {
    const shelf = ok(await client.GET("/v1/shelves/{shelfId}", { params: { path: { shelfId: "2" } } }));
    equal([shelf.theme, shelf.bookCount], ["History", 1], "shelf");
  }],
  ["LibraryService_CreateShelf", async () => {
    const shelf = ok(await client.POST("/v1/shelves", { body: { theme: "Poetry" } }));
    equal([shelf.id, shelf.theme], ["3", "Poetry"], "shelf");
  }],
  ["LibraryService_ListBooks", async () => {
    const query = { "filter.author": "le guin", labels: { lang: "en" }, pageSize: 10 };
    const reply = ok(await client.GET("/v1/shelves/{shelf}/books", { params: { path: { shelf: "1" }, query } }));
    equal(reply.books?.map((b) => b.title), ["The Left Hand of Darkness"], "titles");
    equal(reply.query?.labels, { lang: "en" }, "labels as the upstream read them");
    equal(reply.query?.filter?.author, "le guin", "filter.author as the upstream read it");
    const none = ok(await client.GET("/v1/shelves/{shelf}/books", {
      params: { path: { shelf: "1" }, query: { labels: { lang: "fr" } } },
    }));
    equal(none.books, [], "books labelled lang=fr");
  }],
  ["LibraryService_StreamBooks", async () => {
    const text = ok(await client.GET("/v1/shelves/{shelf}/books:stream", {
      params: { path: { shelf: "1" } },
      parseAs: "text",
    }));
    const lines = text.split("\n").filter((l) => l).map((l) => JSON.parse(l));
    equal(lines.map((l) => l.result.title), ["The Left Hand of Darkness"], "streamed titles");
  }],
  ["LibraryService_GetBook", async () => {
    const b = ok(await client.GET("/v1/shelves/{shelf}/books/{book}", { params: book }));
    equal([b.name, b.title, b.copiesPrinted], ["shelves/1/books/1", "The Left Hand of Darkness", "5000000000"], "book");
  }],
  ["LibraryService_GetBook_2", async () => {
    const b = ok(await client.GET("/v1/shelves/{shelfId}/books/{bookId}/details", {
      params: { path: { shelfId: "2", bookId: "1" } },
    }));
    equal(b.title, "SPQR: A History of Ancient Rome", "title");
  }],
  ["LibraryService_GetAuthor", async () => {
    const author = ok(await client.GET("/v1/shelves/{shelf}/books/{book}/author", { params: book }));
    equal([author.displayName, author.born], ["Ursula K. Le Guin", 1929], "author");
  }],
  ["LibraryService_GetPage", async () => {
    const page = ok(await client.GET("/v1/shelves/{shelfId}/books/{bookId}/pages/{number}", {
      params: { path: { shelfId: "1", bookId: "1", number: 7 } },
    }));
    equal(page.text, "Page 7 of The Left Hand of Darkness", "text");
  }],
  ["LibraryService_GetAttachment", async () => {
    const attachment = ok(await client.GET("/v1/attachments/{path}", { params: { path: { path: "readme.txt" } } }));
    equal([attachment.path, attachment.data], ["readme.txt", "cmVhZG1lLnR4dA=="], "attachment");
  }],
  ["LibraryService_CreateBook", async () => {
    const created = ok(await client.POST("/v1/shelves/{shelf}/books", {
      params: { path: { shelf: "3" } },
      body: {
        title: "Leaves of Grass",
        author: { displayName: "Walt Whitman", born: 1819 },
        genre: "GENRE_POETRY",
      },
    }));
    equal([created.name, created.title], ["shelves/3/books/1", "Leaves of Grass"], "book");
  }],
  ["LibraryService_UpdateBook", async () => {
    const b = ok(await client.PATCH("/v1/shelves/{shelf}/books/{book}", {
      params: { path: { shelf: "3", book: "1" }, query: { updateMask: "title" } },
      body: { title: "Leaves of Grass (1855)" },
    }));
    equal([b.title, b.author?.displayName], ["Leaves of Grass (1855)", "Walt Whitman"], "book");
  }],
  ["LibraryService_ReplaceBook", async () => {
    const b = ok(await client.PUT("/v1/shelves/{shelf}/books/{book}", {
      params: { path: { shelf: "3", book: "1" } },
      body: { title: "Song of Myself", pages: 60 },
    }));
    equal([b.name, b.title, b.pages, b.author], ["shelves/3/books/1", "Song of Myself", 60, null], "book");
  }],
  ["LibraryService_MoveBook", async () => {
    const b = ok(await client.POST("/v1/shelves/{shelf}/books/{book}:move", {
      params: { path: { shelf: "3", book: "1" } },
      body: { targetShelf: "1" },
    }));
    equal([b.name, b.title], ["shelves/1/books/2", "Song of Myself"], "book");
  }],
  ["LibraryService_DeleteBook", async () => {
    const moved = { path: { shelf: "1", book: "2" } };
    ok(await client.DELETE("/v1/shelves/{shelf}/books/{book}", { params: moved }));
    const gone = await client.GET("/v1/shelves/{shelf}/books/{book}", { params: moved });
    equal(gone.response.status, 404, "status of the deleted book");
  }],
  ["LibraryService_DeleteShelf", async () => {
    const shelf = { path: { shelfId: "3" } };
    ok(await client.DELETE("/v1/shelves/{shelfId}", { params: shelf }));
    const gone = await client.GET("/v1/shelves/{shelfId}", { params: shelf });
    equal(gone.response.status, 404, "status of the deleted shelf");
  }],
];

/** An operation's id, when `value` is an operation. */
function operationId(value: unknown): string | undefined {
  const id = (value as { operationId?: unknown } | null)?.operationId;
  return typeof id === "string" ? id : undefined;
}

async function main(): Promise<number> {
  const document = JSON.parse(readFileSync(documentPath ?? "", "utf8")) as {
    paths: Record<string, Record<string, unknown>>;
  };
  const known = new Set(calls.map(([id]) => id));
  let passed = 0;
  let failed = 0;
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === "x-additionalOperations") {
        for (const [custom, o] of Object.entries(op as Record<string, unknown>)) {
          console.log(`missing ts ${operationId(o)}: ${custom} ${path} has no typed path (a custom method)`);
        }
        continue;
      }
      const id = operationId(op);
      if (id !== undefined && !known.has(id)) {
        failed += 1;
        console.log(`FAILED ts ${id}: ${method.toUpperCase()} ${path} is not exercised by this driver`);
      }
    }
  }
  for (const [id, call] of calls) {
    try {
      await call();
      passed += 1;
      console.log(`ok ts ${id}`);
    } catch (error) {
      failed += 1;
      console.log(`FAILED ts ${id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  console.log(`ts client: ${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main();
