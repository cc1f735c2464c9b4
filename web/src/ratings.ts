// Maturity ratings, in the order services/ratings.py applies them (the
// architecture's "Maturity ratings"). The server filters every listing by the
// profile's limit; the app applies the same rule to what it fetches without a
// profile (a title page reads GetTitle, which is public), so a kids profile
// never shows a title above its limit.

const TIERS: readonly (readonly string[])[] = [
  ["TV-Y"],
  ["TV-Y7", "TV-Y7-FV"],
  ["G", "TV-G"],
  ["PG", "TV-PG"],
  ["PG-13", "TV-14"],
  ["R", "TV-MA"],
  ["NC-17"],
  ["NR", "UR"],
];

/** Every rating, least restrictive first. */
export const RATINGS: readonly string[] = TIERS.flat();
/** The highest limit a kids profile may have. */
export const KIDS_LIMIT = "PG";
export const ADULT_DEFAULT_LIMIT = "PG-13";

function rank(rating: string): number {
  const tier = TIERS.findIndex((names) => names.includes(rating));
  // Unknown ratings count as not rated: fail closed.
  return tier === -1 ? TIERS.length - 1 : tier;
}

export function allows(limit: string | undefined, rating: string | undefined): boolean {
  return rank(rating ?? "") <= rank(limit || ADULT_DEFAULT_LIMIT);
}

/** The limits a profile may choose: up to PG for kids profiles. */
export function limitsFor(kids: boolean): string[] {
  return RATINGS.filter((rating) => !kids || rank(rating) <= rank(KIDS_LIMIT));
}
