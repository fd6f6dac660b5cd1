import type { LanguageChoice } from "./bindings";
import { catalogs, type Lang, type MessageKey } from "./messages";

/** Pick the UI language from the system: German for any German locale, English otherwise. */
export function systemLang(languages: readonly string[]): Lang {
  for (const tag of languages) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "de") return "de";
    if (base === "en") return "en";
  }
  return "en";
}

/** Replace {name} placeholders; an unknown placeholder stays visible rather than vanishing. */
export function format(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole);
}

let current = $state<Lang>(systemLang(typeof navigator === "undefined" ? [] : navigator.languages));

export const i18n = {
  get lang(): Lang {
    return current;
  },
  set lang(lang: Lang) {
    current = lang;
    if (typeof document !== "undefined") document.documentElement.lang = lang;
  },
  t(key: MessageKey, params?: Record<string, string>): string {
    return format(catalogs[current][key], params);
  },
};

/** Follow the user's choice; "system" follows the operating system's languages. */
export function applyLanguage(choice: LanguageChoice): void {
  i18n.lang =
    choice === "german"
      ? "de"
      : choice === "english"
        ? "en"
        : systemLang(typeof navigator === "undefined" ? [] : navigator.languages);
}
