// `hull cp` through mounts: which host directory a container path is copied in.
import { describe, expect, it } from 'vitest';
import { locateCopyPath } from '../../src/container/cp';
import type { MountPoint } from '../../src/container/types';

const mount = (Type: MountPoint['Type'], Destination: string, Source: string, RW = true): MountPoint =>
  ({ Type, Destination, Source, Mode: '', RW, Propagation: '' });

describe('locateCopyPath', () => {
  const mounts = [
    mount('volume', '/data', '/var/lib/hull/volumes/v/_data'),
    mount('bind', '/data/sub/', '/srv/sub'),
    mount('tmpfs', '/data/tmp', ''),
    mount('bind', '/etc/app.conf', '/srv/app.conf', false),
  ];

  it('the deepest volume or bind at or above the path, the rest relative to its host dir', () => {
    expect(locateCopyPath(mounts, '/r', '/data/x/y')).toMatchObject({ root: '/var/lib/hull/volumes/v/_data', rel: '/x/y' });
    expect(locateCopyPath(mounts, '/r', '/data')).toMatchObject({ root: '/var/lib/hull/volumes/v/_data', rel: '/' });
    expect(locateCopyPath(mounts, '/r', '/data/')).toMatchObject({ root: '/var/lib/hull/volumes/v/_data', rel: '/' });
    expect(locateCopyPath(mounts, '/r', '/data/sub/f')).toMatchObject({ root: '/srv/sub', rel: '/f' });
    expect(locateCopyPath(mounts, '/r', 'data/sub')).toMatchObject({ root: '/srv/sub', rel: '/' });
    expect(locateCopyPath(mounts, '/r', '/etc/app.conf')).toMatchObject({ root: '/srv/app.conf', rel: '/' });
  });

  it('the rootfs for everything else: siblings with a common prefix, tmpfs, .. folded first', () => {
    expect(locateCopyPath(mounts, '/r', '/database/x')).toEqual({ root: '/r', rel: '/database/x' });
    expect(locateCopyPath(mounts, '/r', '/data/tmp/f')).toMatchObject({ root: '/var/lib/hull/volumes/v/_data', rel: '/tmp/f' });
    expect(locateCopyPath(mounts, '/r', '/data/../etc/passwd')).toEqual({ root: '/r', rel: '/etc/passwd' });
    expect(locateCopyPath(mounts, '/r', '/')).toEqual({ root: '/r', rel: '/' });
    expect(locateCopyPath([], '/r', '/a/b')).toEqual({ root: '/r', rel: '/a/b' });
  });
});
