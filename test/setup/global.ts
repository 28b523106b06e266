// vitest global setup: builds the shared test images once per run and hands their paths to the
// test files (`testImages()` in test/setup/images.ts reads them with inject('hullImages')).
import type { TestProject } from 'vitest/node';
import { buildTestImages, imagesTempDir } from './images';
import { removeTree } from './rootfs';

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = imagesTempDir();
  project.provide('hullImages', await buildTestImages(dir));
  return () => removeTree(dir);
}
