// The digest of the files a labextension build is made from. Go computes the
// same in extension-assets/embed_test.go (sourceDigest): keep the two in step.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SOURCE_DIRS = ['src', 'style', 'schema'];
export const SOURCE_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];

function walk(root, rel, out) {
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel + '/' + name;
    if (statSync(join(root, p)).isDirectory()) {
      walk(root, p, out);
    } else if (!p.startsWith('src/test/')) {
      out.push(p);
    }
  }
}

export function sourcesDigest(root) {
  const files = [...SOURCE_FILES];
  for (const d of SOURCE_DIRS) {
    walk(root, d, files);
  }
  files.sort();
  const h = createHash('sha256');
  for (const f of files) {
    const data = readFileSync(join(root, f));
    h.update(`${f}\n${data.length}\n`);
    h.update(data);
  }
  return h.digest('hex');
}
