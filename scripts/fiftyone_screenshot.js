// Headless screenshots of the FiftyOne App with playwright-core driving a system Chromium.
// usage: node fiftyone_screenshot.js OUT1.png URL1 [OUT2.png URL2 ...]
// env: CHROMIUM (default /usr/bin/chromium), SETTLE_MS (default 6000): wait after the canvas appears;
// TILE_SELECTOR: CSS selector of the grid's tiles; WAIT_FOR_TEXT: grid pages are reloaded (up to 3
// times) until this text shows; DUMP_DOM: also write OUT.html (the page's DOM).
// Prints one JSON line per shot: {"out", "ms", "box", "tiles"}; box = the modal's media canvas in page
// pixels ({x, y, width, height}) for sample URLs, null for the grid; tiles = the page boxes of the
// elements matching TILE_SELECTOR on grid pages, in DOM order (null without it).
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

(async () => {
  const args = process.argv.slice(2);
  if (args.length < 2 || args.length % 2) {
    console.error('usage: node fiftyone_screenshot.js OUT.png URL [OUT2.png URL2 ...]');
    process.exit(2);
  }
  const settle = parseInt(process.env.SETTLE_MS || '6000', 10);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vb-fo-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // The App hides its "Explore Enterprise" popover for automated browsers.
  await context.addInitScript(() => { window.IS_PLAYWRIGHT = true; });
  const page = context.pages()[0] || await context.newPage();
  try {
    for (let i = 0; i < args.length; i += 2) {
      const began = Date.now();
      const url = args[i + 1];
      const wantsModal = /[?&]id=/.test(url);
      for (let attempt = 1; ; attempt++) {
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        await page.waitForSelector('canvas', { timeout: 90000 });
        // A saved view URL (?view=) loads the view, but not always on a cold App: retry until the page
        // shows WAIT_FOR_TEXT (e.g. the view's name), if set.
        if (!wantsModal) {
          const expected = process.env.WAIT_FOR_TEXT;
          const shown = !expected || await page.getByText(expected, { exact: true }).first()
            .waitFor({ timeout: 20000 }).then(() => true, () => false);
          if (shown) break;
          if (attempt === 3) throw new Error(`the page never showed ${JSON.stringify(expected)}: ${url}`);
          continue;
        }
        // A sample URL (?id=) opens the sample modal, but not always on a cold App: retry.
        const opened = await page.waitForSelector('[data-cy="modal-looker-container"]', { timeout: 20000 })
          .then(() => true, () => false);
        if (opened) break;
        if (attempt === 3) throw new Error(`the sample modal did not open: ${url}`);
      }
      await page.waitForTimeout(settle);
      await page.screenshot({ path: args[i] });
      const box = wantsModal
        ? await page.locator('[data-cy="modal-looker-container"] canvas').first().boundingBox().catch(() => null)
        : null;
      // Grid pages: the page boxes of the elements matching TILE_SELECTOR (one per tile), if set.
      const tiles = !wantsModal && process.env.TILE_SELECTOR
        ? await page.locator(process.env.TILE_SELECTOR).evaluateAll((elements) => elements.map((element) => {
          const r = element.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        }))
        : null;
      if (process.env.DUMP_DOM) fs.writeFileSync(args[i].replace(/\.png$/, '.html'), await page.content());
      console.log(JSON.stringify({ out: args[i], ms: Date.now() - began, box, tiles }));
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})().catch((error) => { console.error(error); process.exit(1); });
