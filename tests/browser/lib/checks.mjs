// Layout and contrast checks that can fail: run inside the page, return the problems found.

/* eslint-disable no-undef */
function inPage() {
  const problems = [];
  const name = (e) => {
    const id = e.dataset.testid || e.id || e.className || e.tagName;
    return `${e.tagName.toLowerCase()}[${id}] "${(e.textContent || e.placeholder || '').trim().slice(0, 30)}"`;
  };
  const vw = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > vw) {
    problems.push(`horizontal scroll: scrollWidth ${document.documentElement.scrollWidth} > ${vw}`);
  }
  let targets = 0;
  for (const b of document.querySelectorAll('button, input, select, a[href]')) {
    const r = b.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue; // not displayed
    targets += 1;
    if (r.width < 48 || r.height < 48) problems.push(`touch target ${name(b)} is ${r.width.toFixed(0)}×${r.height.toFixed(0)}`);
    if (r.right > vw + 0.5 || r.left < -0.5) problems.push(`${name(b)} sticks out of the screen`);
  }

  const parse = (c) => {
    const m = /^rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)$/.exec(c);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (e) => {
    const layers = [];
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const s = getComputedStyle(n);
      if (s.backgroundImage !== 'none') problems.push(`${name(n)} has a background image: contrast unknown`);
      const c = parse(s.backgroundColor);
      if (c && c[3] > 0) layers.push(c);
      if (c && c[3] === 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const l of layers.reverse()) bg = over(l, bg);
    return bg;
  };
  let texts = 0;
  let worst = Infinity;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (!t.textContent.trim()) continue;
    const e = t.parentElement;
    if (!e || seen.has(e)) continue;
    seen.add(e);
    if (e.getClientRects().length === 0) continue;
    const s = getComputedStyle(e);
    if (s.visibility !== 'visible' || Number(s.opacity) < 1) {
      if (Number(s.opacity) < 1) problems.push(`${name(e)} uses opacity: contrast unknown`);
      continue;
    }
    const fgRaw = parse(s.color);
    if (!fgRaw) { problems.push(`${name(e)}: colour ${s.color} not understood`); continue; }
    const bg = background(e);
    const fg = over(fgRaw, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    texts += 1;
    worst = Math.min(worst, ratio);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} < 4.5 for ${name(e)} (${s.color} on rgb(${bg.slice(0, 3).join(', ')}))`);
  }
  return { problems, targets, texts, worst };
}

/** Fails the test with every problem found (and checks that something was checked). */
export async function checkLayout(page, assert, label) {
  const r = await page.evaluate(inPage);
  assert.deepEqual(r.problems, [], `${label}: layout/contrast problems`);
  assert.ok(r.targets > 0 && r.texts > 0, `${label}: nothing checked (${JSON.stringify(r)})`);
  return r;
}
