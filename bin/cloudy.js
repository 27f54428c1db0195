#!/usr/bin/env node
// Thin launcher: the command line is built into dist/ (npm run build), bundled into one module.
import { main } from '../dist/lib/cli/cloudy.mjs'

process.exitCode = await main(process.argv.slice(2))
