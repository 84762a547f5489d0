#!/usr/bin/env node
import '../dist/ebpm.mjs';
