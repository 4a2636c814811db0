/**
 * Headless Chromium for browser tests and screenshots, from Debian's package (no browser
 * download at run time: only the Debian registry is reachable).
 */
import { ensureDebianPackage } from './apt.ts';
import { DEBIAN } from './versions.ts';

/** Installs Debian's `chromium` if missing and returns the path of its binary. */
export async function ensureChromium(): Promise<string> {
  return ensureDebianPackage(DEBIAN.chromium.pkg, DEBIAN.chromium.binary);
}
