/** Compile-time assertions for the type tests: nothing here runs. */

/** True when A and B are the same type (not merely assignable either way). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Fails to compile unless its argument is `true`: `assert<Equal<typeof x, string>>(true)`. */
export const assert = <T extends true>(ok: T): T => ok;
