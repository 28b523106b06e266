#!/usr/bin/env node
// Docker-style CLI entry point. Loads the single-file bundle `npm install` makes, with its V8 code
// cache, unless tsc has rebuilt dist/ since (a developer's tree). The loader lives in
// bin/hull-oci.js (see there); required directly, not through bin/load-bundle.js, to spare a
// module load. The command is bin/hull, this file with a pinned #! line (scripts/pin-bin.js).
'use strict';
const dist = require('path').join(__dirname, '..', 'dist');
require('./hull-oci.js').loadBundle(dist, 'hull-cli.js', 'cli/main.js').main(process.argv.slice(2));
