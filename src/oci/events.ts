// hull-oci events --stats: one JSON stats record (streaming events are not implemented).
import type { Verb } from './cli';
import { runtimeFor } from './cli';
import { writeOut } from './output';

const events: Verb = {
  usage: 'events --stats <container-id>',
  description: 'Display container resource statistics (only --stats is supported).',
  flags: [
    { name: 'stats', type: 'boolean', description: 'print stats once and exit' },
    { name: 'interval', type: 'string', description: 'ignored', valueName: 'duration' },
  ],
  args: [1, 1],
  run({ flags, positionals }, globals) {
    if (!flags.stats) throw new Error('events: only --stats is supported');
    const id = positionals[0];
    const data = runtimeFor(globals).stats(id);
    writeOut(JSON.stringify({ type: 'stats', id, data }) + '\n');
  },
};
export default events;
