// The loader of the single-file bundles, for bin/hull, scripts/build-bundle.js and tests. It lives
// in bin/hull-oci.js, the entry containerd starts several times per container, so that one loads as
// a single module: see there.
'use strict';
module.exports = require('./hull-oci.js');
