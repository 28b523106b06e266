// What `hull run`/`create` need from images: the image for a name, pulled when missing
// (docker's --pull=missing|always|never), with its config and overlay lower directories.
import { pullImage, PullOptions } from './pull';
import { ImageNotFoundError, ImageRecord, ImageStore } from './store';
import type { ImageConfig } from './types';

export type PullPolicy = 'missing' | 'always' | 'never';

export interface ResolvedImage {
  record: ImageRecord;
  config: ImageConfig;
  /** Layer directories for overlay's lowerdir, top first. */
  lowerDirs: string[];
}

export async function ensureImage(store: ImageStore, name: string, policy: PullPolicy = 'missing', pullOptions: PullOptions = {}): Promise<ResolvedImage> {
  let record = policy === 'always' ? null : store.findImage(name);
  if (!record) {
    if (policy === 'never') throw new ImageNotFoundError(name);
    record = await pullImage(store, name, pullOptions);
  }
  return { record, config: store.configOf(record), lowerDirs: store.imageLowerDirs(record) };
}
