#!/usr/bin/env node
/** The `fhir-engine` executable (package.json `bin`). */
import { main } from './main.js';

void main(process.argv.slice(2)).then((code) => {
  if (code !== undefined) process.exit(code);
});
