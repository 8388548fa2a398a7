// The README's screenshot of the business overview (docs/screenshots/business.png),
// from a running stack: signs in as one company's operator and shoots #/business
// at 1366 px. Not a test (node --test skips it):
//   EVC_STACK_DIR=$PWD/.stack node tests/ui/shoot-business.mjs [company] [out.png]
import { join } from 'node:path';
import { stack, launch, newPage, signIn, REPO } from './helpers.mjs';

const S = stack();
const company = S.byId[process.argv[2] || 'b'] || S.companies[0];
const out = process.argv[3] || join(REPO, 'docs', 'screenshots', 'business.png');
const browser = await launch();
try {
  const page = await newPage(browser);
  await page.goto(company.http_url + '/#/business');
  await signIn(page, company.admin_token);
  await page.locator('#chart-energy rect').first().waitFor({ state: 'attached' });
  await page.locator('#business-alerts li').first().waitFor();
  await page.locator('#toast').waitFor({ state: 'hidden', timeout: 10000 }); // the sign-in toast
  await page.waitForTimeout(500);
  await page.screenshot({ path: out, fullPage: true });
  console.log('wrote ' + out);
} finally {
  await browser.close();
}
