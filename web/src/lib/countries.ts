// Shipping destinations offered at checkout (ISO 3166-1 alpha-2), named in the user's language.
export const COUNTRY_CODES = [
  'AT', 'AU', 'BE', 'CA', 'CH', 'CZ', 'DE', 'DK', 'ES', 'FI', 'FR', 'GB', 'IE', 'IT', 'JP',
  'LU', 'NL', 'NO', 'NZ', 'PL', 'PT', 'SE', 'US',
] as const;

export function countryName(code: string, locale?: string): string {
  try {
    return new Intl.DisplayNames(locale ? [locale] : undefined, { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}

export function countryOptions(locale?: string): { code: string; name: string }[] {
  return COUNTRY_CODES.map((code) => ({ code, name: countryName(code, locale) })).sort((a, b) =>
    a.name.localeCompare(b.name),
  );
}

/** The region of the browser's language when we ship there ("en-GB" → GB), else DE. */
export function defaultCountry(language: string = globalThis.navigator?.language ?? ''): string {
  const region = language.split('-')[1]?.toUpperCase();
  return region && (COUNTRY_CODES as readonly string[]).includes(region) ? region : 'DE';
}
