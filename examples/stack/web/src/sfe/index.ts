// A standalone widget with no dependencies (bundled by rollup as an IIFE): shows when the page
// was rendered, the way authentik's SFE bundle is built apart from the main UI.
export function stamp(target: HTMLElement, now: Date = new Date()): void {
  target.textContent = `rendered ${now.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

const el = document.querySelector<HTMLElement>("#stamp");
if (el) stamp(el);
