// Drives the proxy's API docs page in Debian's chromium with Playwright, as a person would: loads
// the page, reads the operations it lists, and makes "Try it out" calls through the proxy, a GET
// with a path parameter and a POST with a JSON body. Prints what it saw as one JSON object per
// page (an array) on standard output, for tests/tests/docs_page.rs to check.
//
//   tests/browser/playwright.sh tests/browser/docs-page.mjs CHROMIUM SCREENSHOT URL…
//
// SCREENSHOT is written from the first URL's page after its calls.
import { createRequire } from "node:module";

const require = createRequire(process.env.PLAYWRIGHT_DIR + "/");
const { chromium } = require("playwright-core");

const [executablePath, screenshot, ...urls] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
  ],
});

// Runs "Try it out" on the operation `id`: fills `fill` (parameter name → value, or `body` for
// the JSON request body), executes, and returns the status and body the page shows.
async function tryIt(page, id, fill) {
  const operation = page.locator(`#${id}`);
  await operation.locator(".opblock-summary-control").click();
  await operation.locator("button.try-out__btn").click();
  for (const [name, value] of Object.entries(fill)) {
    const field =
      name === "body"
        ? operation.locator("textarea.body-param__text")
        : operation.locator(`tr[data-param-name="${name}"] input`);
    await field.fill(value);
  }
  await operation.locator("button.execute").click();
  const live = operation.locator(".live-responses-table .response");
  await live.first().waitFor({ timeout: 20000 });
  return {
    status: (await live.locator(".response-col_status").first().innerText()).trim(),
    body: (await live.locator(".response-col_description pre").first().innerText()).trim(),
    requestUrl: (await operation.locator(".request-url pre").first().innerText()).trim(),
  };
}

const results = [];
for (const [i, url] of urls.entries()) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const seen = { cspViolations: [], pageErrors: [], consoleErrors: [], requests: [] };
  page.on("console", (message) => {
    if (message.type() === "error") {
      seen.consoleErrors.push(message.text());
    }
    if (message.text().includes("Content Security Policy")) {
      seen.cspViolations.push(message.text());
    }
  });
  page.on("pageerror", (error) => seen.pageErrors.push(String(error)));
  page.on("request", (request) => seen.requests.push(request.url()));

  const response = await page.goto(url, { waitUntil: "load" });
  await page.locator(".opblock").first().waitFor({ timeout: 30000 });
  const operations = await page.$$eval(".opblock", (blocks) =>
    blocks.map((block) => ({
      method: block.querySelector(".opblock-summary-method")?.textContent.trim(),
      path: block.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
      summary: block.querySelector(".opblock-summary-description")?.textContent.trim(),
    })),
  );
  const title = await page.locator(".information-container .title").first().innerText();

  const greet = await tryIt(page, "operations-Greeter-Greeter_SayHello", {
    name: "docs page",
  });
  const create = await tryIt(page, "operations-LibraryService-LibraryService_CreateShelf", {
    body: JSON.stringify({ theme: "Made on the docs page" }),
  });
  // Policy reports reach the console asynchronously.
  await page.waitForTimeout(200);
  if (i === 0) {
    // The top of the page: the API's title, the first operations, and the GET's call with its
    // answer (the POST folded away).
    await page
      .locator("#operations-LibraryService-LibraryService_CreateShelf .opblock-summary-control")
      .click();
    await page.setViewportSize({ width: 1280, height: 1800 });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: screenshot });
  }
  results.push({
    url,
    status: response.status(),
    documentTitle: await page.title(),
    title,
    operations,
    greet,
    create,
    ...seen,
  });
  await context.close();
}
await browser.close();
console.log(JSON.stringify(results));
