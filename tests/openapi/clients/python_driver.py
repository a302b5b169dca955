"""Calls every operation of the example API through a client openapi-python-client generated
from the proxy's served document, and checks the answers.

    python python_driver.py BASE_URL DOCUMENT CLIENT_DIR

CLIENT_DIR holds the generated package `library_client`. The example upstream must be fresh
(its seeded shelves 1 and 2, one book each): the calls create, change and delete what they
check. Prints one line per operation of the document, `ok`, `FAILED` or `missing` (no client
function: the custom SEARCH binding, which OpenAPI cannot name), then `N passed, N failed`.
"""

import json
import sys
import traceback

BASE, DOCUMENT, CLIENT_DIR = sys.argv[1:4]
sys.path.insert(0, CLIENT_DIR)

from library_client import Client  # noqa: E402
from library_client.api.greeter import greeter_say_hello, greeter_say_hello_2  # noqa: E402
from library_client.api.library_service import (  # noqa: E402
    library_service_create_book,
    library_service_create_shelf,
    library_service_delete_book,
    library_service_delete_shelf,
    library_service_get_attachment,
    library_service_get_author,
    library_service_get_book,
    library_service_get_book_2,
    library_service_get_default_shelf,
    library_service_get_page,
    library_service_get_shelf,
    library_service_list_books,
    library_service_list_shelves,
    library_service_move_book,
    library_service_replace_book,
    library_service_stream_books,
    library_service_update_book,
)
from library_client.models import (  # noqa: E402
    HelloworldV1HelloRequest,
    LibraryServiceListBooksLabels,
    LibraryServiceMoveBookBody,
    LibraryServiceReplaceBookBody,
    LibraryV1Author,
    LibraryV1Book,
    LibraryV1Genre,
    LibraryV1Shelf,
)

client = Client(base_url=BASE, raise_on_unexpected_status=True)


def ok(response, what=None):
    """The parsed answer of a 200, or an error naming the status and body."""
    if response.status_code != 200:
        raise AssertionError(f"HTTP {response.status_code}: {response.content.decode()[:300]}")
    return response.parsed


def equal(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: {actual!r}, expected {expected!r}")


def say_hello():
    reply = ok(greeter_say_hello.sync_detailed("world", client=client))
    equal(reply.message, "Hello world", "message")


def say_hello_2():
    body = HelloworldV1HelloRequest(name="client")
    reply = ok(greeter_say_hello_2.sync_detailed(client=client, body=body))
    equal(reply.message, "Hello client", "message")


def list_shelves():
    reply = ok(library_service_list_shelves.sync_detailed(client=client, page_size=10))
    equal([(s.id, s.theme) for s in reply.shelves], [("1", "Fiction"), ("2", "History")], "shelves")


def get_default_shelf():
    shelf = ok(library_service_get_default_shelf.sync_detailed(client=client))
    equal((shelf.id, shelf.theme), ("1", "Fiction"), "shelf")


def get_shelf():
    shelf = ok(library_service_get_shelf.sync_detailed("2", client=client))
    equal((shelf.theme, shelf.book_count), ("History", 1), "shelf")


def create_shelf():
    shelf = ok(library_service_create_shelf.sync_detailed(client=client, body=LibraryV1Shelf(theme="Poetry")))
    equal((shelf.id, shelf.theme), ("3", "Poetry"), "shelf")


def list_books():
    labels = LibraryServiceListBooksLabels()
    labels["lang"] = "en"
    reply = ok(
        library_service_list_books.sync_detailed(
            "1", client=client, filter_author="le guin", labels=labels, page_size=10
        )
    )
    equal([b.title for b in reply.books], ["The Left Hand of Darkness"], "titles")
    equal(reply.query.labels.to_dict(), {"lang": "en"}, "labels as the upstream read them")
    equal(reply.query.filter_.author, "le guin", "filter.author as the upstream read it")
    labels["lang"] = "fr"
    reply = ok(library_service_list_books.sync_detailed("1", client=client, labels=labels))
    equal(reply.books, [], "books labelled lang=fr")


def stream_books():
    text = ok(library_service_stream_books.sync_detailed("1", client=client))
    lines = [json.loads(line) for line in text.splitlines() if line]
    equal([line["result"]["title"] for line in lines], ["The Left Hand of Darkness"], "streamed titles")


def get_book():
    book = ok(library_service_get_book.sync_detailed("1", "1", client=client))
    equal((book.name, book.title, book.copies_printed), ("shelves/1/books/1", "The Left Hand of Darkness", "5000000000"), "book")


def get_book_2():
    book = ok(library_service_get_book_2.sync_detailed("2", "1", client=client))
    equal(book.title, "SPQR: A History of Ancient Rome", "title")


def get_author():
    author = ok(library_service_get_author.sync_detailed("1", "1", client=client))
    equal((author.display_name, author.born), ("Ursula K. Le Guin", 1929), "author")


def get_page():
    page = ok(library_service_get_page.sync_detailed("1", "1", 7, client=client))
    equal(page.text, "Page 7 of The Left Hand of Darkness", "text")


def get_attachment():
    attachment = ok(library_service_get_attachment.sync_detailed("readme.txt", client=client))
    equal((attachment.path, attachment.data), ("readme.txt", "cmVhZG1lLnR4dA=="), "attachment")


def create_book():
    book = LibraryV1Book(
        title="Leaves of Grass",
        author=LibraryV1Author(display_name="Walt Whitman", born=1819),
        genre=LibraryV1Genre.GENRE_POETRY,
    )
    created = ok(library_service_create_book.sync_detailed("3", client=client, body=book))
    equal((created.name, created.title), ("shelves/3/books/1", "Leaves of Grass"), "book")


def update_book():
    change = LibraryV1Book(title="Leaves of Grass (1855)")
    book = ok(library_service_update_book.sync_detailed("3", "1", client=client, body=change, update_mask="title"))
    equal((book.title, book.author.display_name), ("Leaves of Grass (1855)", "Walt Whitman"), "book")


def replace_book():
    body = LibraryServiceReplaceBookBody(title="Song of Myself", pages=60)
    book = ok(library_service_replace_book.sync_detailed("3", "1", client=client, body=body))
    # The replacement has no author: null or absent (UNSET is false).
    equal((book.name, book.title, book.pages, book.author or None), ("shelves/3/books/1", "Song of Myself", 60, None), "book")


def move_book():
    body = LibraryServiceMoveBookBody(target_shelf="1")
    book = ok(library_service_move_book.sync_detailed("3", "1", client=client, body=body))
    equal((book.name, book.title), ("shelves/1/books/2", "Song of Myself"), "book")


def delete_book():
    ok(library_service_delete_book.sync_detailed("1", "2", client=client))
    gone = library_service_get_book.sync_detailed("1", "2", client=client)
    equal(gone.status_code, 404, "status of the deleted book")


def delete_shelf():
    ok(library_service_delete_shelf.sync_detailed("3", client=client))
    gone = library_service_get_shelf.sync_detailed("3", client=client)
    equal(gone.status_code, 404, "status of the deleted shelf")


# In the order they run: each sees what the ones before it left.
CALLS = [
    ("Greeter_SayHello", say_hello),
    ("Greeter_SayHello_2", say_hello_2),
    ("LibraryService_ListShelves", list_shelves),
    ("LibraryService_GetDefaultShelf", get_default_shelf),
    ("LibraryService_GetShelf", get_shelf),
    ("LibraryService_CreateShelf", create_shelf),
    ("LibraryService_ListBooks", list_books),
    ("LibraryService_StreamBooks", stream_books),
    ("LibraryService_GetBook", get_book),
    ("LibraryService_GetBook_2", get_book_2),
    ("LibraryService_GetAuthor", get_author),
    ("LibraryService_GetPage", get_page),
    ("LibraryService_GetAttachment", get_attachment),
    ("LibraryService_CreateBook", create_book),
    ("LibraryService_UpdateBook", update_book),
    ("LibraryService_ReplaceBook", replace_book),
    ("LibraryService_MoveBook", move_book),
    ("LibraryService_DeleteBook", delete_book),
    ("LibraryService_DeleteShelf", delete_shelf),
]


def operations(document):
    """Every operation of the document: (id, method, path, standard)."""
    found = []
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method == "x-additionalOperations":
                found += [(o["operationId"], m, path, False) for m, o in op.items()]
            elif isinstance(op, dict) and "operationId" in op:
                found.append((op["operationId"], method.upper(), path, True))
    return found


def main():
    document = json.load(open(DOCUMENT))
    known = dict(CALLS)
    passed = failed = 0
    for op_id, method, path, standard in operations(document):
        if not standard:
            print(f"missing python {op_id}: {method} {path} has no client function (a custom method)")
        elif op_id not in known:
            failed += 1
            print(f"FAILED python {op_id}: {method} {path} is not exercised by this driver")
    for op_id, call in CALLS:
        try:
            call()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then the next call runs
            failed += 1
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            print(f"FAILED python {op_id}: {detail}")
        else:
            passed += 1
            print(f"ok python {op_id}")
    print(f"python client: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
