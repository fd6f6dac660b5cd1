// The keyboard check: Tab from the top of the page until focus comes round again, and judge
// every control on the way. A control passes when, focused from the keyboard, it draws an outline
// (at least 2 px) or a box shadow that it does not draw unfocused, and an outline's colour has at
// least 3:1 contrast with what lies behind it (WCAG 1.4.11). Every enabled, visible control on
// the page must be reached (a radio group counts once).

const MAX_STEPS = 150;

/** @returns {Promise<{ reached: string[], missed: string[], weak: string[] }>} */
export async function focusTour(page) {
  await page.evaluate(() => {
    // A starting point before everything else; it is not itself in the Tab order.
    const start = document.createElement("span");
    start.tabIndex = -1;
    start.id = "focus-tour-start";
    document.body.prepend(start);
    start.focus();
    window.__focusTour = [];
  });
  for (let step = 0; step < MAX_STEPS; step++) {
    await page.keyboard.press("Tab");
    const done = await page.evaluate(recordFocused);
    if (done) break;
  }
  return page.evaluate(judge);
}

/** In the page: note the focused element and its look; true once focus has come round. */
function recordFocused() {
  const el = document.activeElement;
  const tour = window.__focusTour;
  if (!el || el === document.body || el.id === "focus-tour-start" || tour.some((t) => t.el === el)) return true;
  const s = getComputedStyle(el);
  tour.push({
    el,
    focusVisible: el.matches(":focus-visible"),
    look: { outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth, outlineColor: s.outlineColor, boxShadow: s.boxShadow },
  });
  return false;
}

/** In the page: compare each reached control's focused look with its unfocused one. */
function judge() {
  const tour = window.__focusTour;
  document.activeElement?.blur();
  document.getElementById("focus-tour-start")?.remove();
  const describe = (el) => {
    const id = el.getAttribute("data-testid");
    const text = (el.getAttribute("aria-label") ?? el.textContent ?? "").trim().replace(/\s+/g, " ").slice(0, 40);
    return `<${el.tagName.toLowerCase()}${id ? ` data-testid="${id}"` : ""}${el.type ? ` type="${el.type}"` : ""}> ${text}`;
  };
  const rgba = (color) => {
    const m = color.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const lin = (c) => {
      const v = c / 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  // The colour behind an element's outline: the first ancestor that paints a background.
  const behind = (el) => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const weak = [];
  for (const { el, focusVisible, look } of tour) {
    const s = getComputedStyle(el);
    const outlined = look.outlineStyle !== "none" && parseFloat(look.outlineWidth) >= 2;
    const shadowed = look.boxShadow !== "none";
    const changed = look.outlineStyle !== s.outlineStyle || look.outlineColor !== s.outlineColor || look.boxShadow !== s.boxShadow;
    let why = null;
    if (!focusVisible) why = "not :focus-visible after Tab";
    else if (!(outlined || shadowed) || !changed) why = "looks the same focused and unfocused";
    else if (outlined && !shadowed) {
      const line = rgba(look.outlineColor);
      const back = behind(el);
      if (line) {
        const [hi, lo] = [luminance(line), luminance(back)].sort((a, b) => b - a);
        const ratio = (hi + 0.05) / (lo + 0.05);
        if (ratio < 3) why = `outline ${look.outlineColor} has ${ratio.toFixed(2)}:1 against rgb(${back.r}, ${back.g}, ${back.b})`;
      }
    }
    if (why) weak.push(`${describe(el)} — ${why}`);
  }
  const reached = new Set(tour.map((t) => t.el));
  const radioGroups = new Set(tour.filter((t) => t.el.type === "radio").map((t) => t.el.name));
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"]), [contenteditable="true"]',
  );
  const missed = [...controls]
    .filter((el) => !el.matches(":disabled") && !el.closest("[inert]") && el.checkVisibility({ visibilityProperty: true }))
    .filter((el) => !reached.has(el) && !(el.type === "radio" && radioGroups.has(el.name)))
    .map(describe);
  return { reached: tour.map((t) => describe(t.el)), missed, weak };
}
