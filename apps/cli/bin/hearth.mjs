#!/usr/bin/env node
// The `hearth` command npm links: a committed executable, since the compiled dist/main.js that it loads is
// written by `tsc -b` after `npm ci` has linked the command, without the executable bit.
import '../dist/main.js';
