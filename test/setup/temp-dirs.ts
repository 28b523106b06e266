// Temporary directories a test file makes and every test's end removes.
import { afterEach } from 'vitest';
import { removeTree, tempDir } from './rootfs';

/**
 * A maker of fresh directories under /tmp, each removed after the test that made it. Call it at
 * a test file's top level: it registers that file's afterEach.
 */
export function tempDirsPerTest(prefix = 'hull-test-'): () => string {
  const made: string[] = [];
  afterEach(() => {
    for (const dir of made.splice(0)) removeTree(dir);
  });
  return () => {
    const dir = tempDir(prefix);
    made.push(dir);
    return dir;
  };
}
