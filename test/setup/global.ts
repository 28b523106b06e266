// vitest global setup: builds the shared test images once per run and hands their paths to the
// test files (`testImages()` in test/setup/images.ts reads them with inject('hullImages')).
import type { TestProject } from 'vitest/node';
import { buildTestImages } from './images';
import { removeTree, tempDir } from './rootfs';

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = tempDir('hull-images-');
  project.provide('hullImages', await buildTestImages(dir));
  return () => removeTree(dir);
}
