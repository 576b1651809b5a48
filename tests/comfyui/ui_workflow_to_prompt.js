// Open UI-format workflows in a running ComfyUI's own editor (headless Chromium) and print the
// API-format prompt the editor would queue for each: one JSON line {"file", "output"} per file.
// usage: node ui_workflow_to_prompt.js SERVER_URL WORKFLOW.json [...]
// env: CHROMIUM (default /usr/bin/chromium); playwright-core from NODE_PATH (scripts/node_modules).
const { chromium } = require('playwright-core');
const fs = require('fs');

(async () => {
  const [url, ...files] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => window.app && window.app.graph, null, { timeout: 120000 });
    await page.waitForTimeout(3000); // node definitions arrive after the app object
    for (const file of files) {
      const workflow = JSON.parse(fs.readFileSync(file, 'utf8'));
      const output = await page.evaluate(async (graph) => {
        await window.app.loadGraphData(graph);
        return (await window.app.graphToPrompt()).output;
      }, workflow);
      console.log(JSON.stringify({ file, output }));
    }
  } finally {
    await browser.close();
  }
})().catch((error) => { console.error(error); process.exit(1); });
