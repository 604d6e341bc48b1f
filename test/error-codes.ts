// The typed error a test expects from a call, for every package's tests: each package has its own
// error class and guard (isMptableError, isAcpiError, …); this runs the call and sorts the outcome.

/**
 * The error of the kind `is` accepts that `f` throws; undefined when `f` returns. Any other throw
 * is rethrown, so a test never mistakes a crash for the error it expects.
 */
export function typedErrorOf<E extends { readonly code: string; readonly message: string }>(f: () => unknown, is: (e: unknown) => e is E): E | undefined {
  try {
    f();
  } catch (e) {
    if (is(e)) return e;
    throw e;
  }
  return undefined;
}
