import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveUser } from '../../src/container/rootfs-files';
import { removeTree, tempDir } from '../setup/rootfs';

describe('resolveUser (docker -u / image USER)', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) removeTree(root);
    root = undefined;
  });

  it('runs as 0:0 when no user is given and the image has no /etc/passwd', () => {
    root = tempDir('hull-user-');
    expect(resolveUser(root, '')).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/' });
  });

  it('looks names up in the image, numbers need no entry, unknown names fail', () => {
    root = tempDir('hull-user-');
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n');
    expect(resolveUser(root, '')).toMatchObject({ uid: 0, gid: 0, home: '/root' });
    expect(resolveUser(root, 'app')).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000], home: '/home/app' });
    expect(resolveUser(root, '4242:7')).toMatchObject({ uid: 4242, gid: 7 });
    expect(() => resolveUser(root!, 'nobody')).toThrow(/unable to find user nobody/);
  });
});
