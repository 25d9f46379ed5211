/**
 * A labelled image folder for scripts/scale-out/test-slurm.sh: Fashion-MNIST PNGs (3 classes) when Debian's
 * dataset-fashion-mnist is installed, else generated class-patterned images (the embed tests' fixture, which also
 * holds one byte-identical duplicate and one file that is not an image).
 *
 *   npx tsx scripts/scale-out/write-test-dataset.ts <folder> <images per class>
 *
 * Prints one line: `<images written> <source>`.
 */
import { writeFashionMnistFolder } from '../../test/helpers/images.js';
import { hasFashionMnist } from '../../test/helpers/shared.js';
import { writeTestDataset } from '../../test/workflows/shard-fixtures.js';

const [root, perClassArg = '70'] = process.argv.slice(2);
const perClass = Number(perClassArg);
if (root === undefined || !Number.isInteger(perClass) || perClass < 1) {
  process.stderr.write('usage: tsx scripts/scale-out/write-test-dataset.ts <folder> <images per class ≥ 1>\n');
  process.exit(2);
}
if (hasFashionMnist) {
  const written = await writeFashionMnistFolder(root, [0, 1, 7], perClass);   // t-shirt, trouser, sneaker
  process.stdout.write(`${written.length} fashion-mnist\n`);
} else {
  const dataset = await writeTestDataset(root, perClass);
  process.stdout.write(`${dataset.images.length} generated\n`);
}
