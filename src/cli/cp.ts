// `hull cp CONTAINER:SRC DEST` / `hull cp SRC CONTAINER:DEST`: copies confined to the container's root.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

/** "name:/path" → container and path; a host path with a slash before the colon is not a container ref. */
function splitRef(arg: string): { container?: string; path: string } {
  const colon = arg.indexOf(':');
  if (colon > 0 && !arg.slice(0, colon).includes('/')) return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
  return { path: arg };
}

export function register(program: Command): void {
  program
    .command('cp')
    .description('Copy files/folders between a container and the local filesystem')
    .argument('<src>')
    .argument('<dest>')
    .option('-a, --archive', 'archive mode (copy all uid/gid information)')
    .option('-L, --follow-link', 'always follow symbol link in SRC_PATH (ignored)')
    .action(async (srcArg: string, destArg: string, _flags, self: Command) => {
      const src = splitRef(srcArg);
      const dest = splitRef(destArg);
      if (src.container && dest.container) throw Object.assign(new Error('copying between containers is not supported'), { exitCode: 1 });
      if (!src.container && !dest.container) throw Object.assign(new Error('must specify at least one container source'), { exitCode: 1 });
      const manager = managerFor(self);
      if (src.container) await manager.copy(src.container, 'out', src.path, dest.path);
      else await manager.copy(dest.container!, 'in', dest.path, src.path);
    });
}
