/**
 * The package's version, for `--version` of every command-line tool and for build info.
 */
import { readFileSync } from 'node:fs';

let cached: string | null = null;

/** `version` of package.json (read once), or 'unknown'. */
export function packageVersion(): string {
  if (cached === null) {
    try {
      // dist/src/common/version.js and src/common/version.ts are both three levels below the root.
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
      cached = pkg.version ?? 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}

/** The line `--version` prints: tool name, version, Node.js version. */
export function versionLine(tool: string): string {
  return `${tool} ${packageVersion()} (Node.js ${process.versions.node})\n`;
}
