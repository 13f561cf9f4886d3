/**
 * The observer's timing constants. A module of its own, with no imports, so that esbuild inlines
 * them into the bundle instead of keeping a variable for each.
 */

/**
 * Expiry counts a little after the server's instant: the skew estimate is off by up to one network
 * hop, and a refetch landing a hair early would get the same old token back.
 */
export const EXPIRY_MARGIN = 1000;
/** An answer younger than this (from any tab) makes a focus refetch pointless. */
export const FRESH_MS = 1000;
/** A planned refetch that could not run (offline, another tab leading) is retried after this. */
export const RETRY_MS = 3000;
/** The leader keeps its lock a moment after answering, so late wakers see the fresh answer first. */
export const HOLD_MS = 300;
