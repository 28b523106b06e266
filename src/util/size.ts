// Byte sizes as users write them: docker flags (`-m 64m`, `--tmpfs /t:size=1g`) and sandbox options
// ("64MiB"). One grammar for both, so `64m` means the same everywhere in hull.

const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * "512", "512b", "64k", "64m", "64mb", "64MiB", "1.5g" → bytes (binary units, rounded down);
 * undefined when the text is not a size. Callers turn that into their own error type.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b?)\s*$/i.exec(text);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * UNIT[(m[2] ?? '').toLowerCase()]);
}
