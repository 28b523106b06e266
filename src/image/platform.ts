// Platforms ("linux/amd64", "linux/arm/v7") and choosing one manifest out of an index.
import type { Descriptor, Platform } from './types';

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, PlatformSpec['architecture']> = {
  x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', amd64: 'amd64',
  aarch64: 'arm64', arm64: 'arm64',
  i386: '386', i686: '386', ia32: '386', '386': '386',
  armhf: 'arm', armel: 'arm', arm: 'arm',
  ppc64le: 'ppc64le', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64', mips64le: 'mips64le',
};

/** Normalize arch/variant the way containerd does: x86_64→amd64, aarch64→arm64 (v8), armhf→arm/v7. */
export function normalizePlatform(p: { os?: string; architecture?: string; variant?: string }): PlatformSpec {
  const os = (p.os || 'linux').toLowerCase();
  const rawArch = (p.architecture || '').toLowerCase();
  let architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() || undefined;
  if (rawArch === 'armhf' && !variant) variant = 'v7';
  if (rawArch === 'armel' && !variant) variant = 'v6';
  if (architecture === 'arm64' && variant === 'v8') variant = undefined; // arm64 means v8
  if (architecture === 'arm' && !variant) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Parse "--platform os/arch[/variant]" (also "arch" alone, meaning linux/arch). */
export function parsePlatform(text: string): PlatformSpec {
  const parts = text.trim().split('/');
  if (parts.some((p) => p === '') || parts.length > 3) {
    throw new Error(`invalid platform "${text}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0] });
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

export function formatPlatform(p: PlatformSpec): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The platform hull runs on. */
export function hostPlatform(): PlatformSpec {
  const p = normalizePlatform({ os: 'linux', architecture: process.arch });
  if (p.architecture === 'arm') {
    const v = (process.config.variables as unknown as { arm_version?: string }).arm_version;
    if (v) p.variant = `v${v}`;
  }
  return p;
}

/** Variants to accept for a wanted platform, best first (arm/v7 also runs v6 and v5 images). */
function acceptableVariants(wanted: PlatformSpec): Array<string | undefined> {
  if (wanted.architecture === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const start = order.indexOf(wanted.variant ?? 'v7');
    return start < 0 ? [wanted.variant] : order.slice(start);
  }
  return [wanted.variant];
}

/**
 * Pick the manifest for `wanted` from an index's entries. Attestation entries (unknown/unknown)
 * and entries without a platform or with unknown media types are skipped, not errors.
 */
export function selectManifest(manifests: Descriptor[], wanted: PlatformSpec, acceptMediaType: (mt: string) => boolean): Descriptor | null {
  const candidates = manifests.filter((m) => {
    if (!acceptMediaType(m.mediaType)) return false;
    const p = m.platform;
    if (!p) return false;
    if (p.os === 'unknown' || p.architecture === 'unknown') return false;
    return true;
  });
  for (const variant of acceptableVariants(wanted)) {
    const hit = candidates.find((m) => {
      const p = normalizePlatform(m.platform as Platform);
      return p.os === wanted.os && p.architecture === wanted.architecture && (variant === undefined || p.variant === variant || (p.variant === undefined && variant === wanted.variant));
    });
    if (hit) return hit;
  }
  return null;
}

/** Platforms listed in an index, for error messages. */
export function listPlatforms(manifests: Descriptor[]): string[] {
  return manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(normalizePlatform(m.platform as Platform)));
}
