/** The 9 light/ CNNs of the ONNX corpus against their shipped expected outputs (rtol 1e-3, atol 1e-4). */
import { beforeAll, describe, expect, it } from 'vitest';
import { readTensorProto } from '@kiln/onnx';
import { compareTensors } from '../src/compare.js';
import { ensureCorpus, readBytes } from '../src/corpus.js';
import { parseBuildRun } from '../src/kiln.js';
import { LIGHT_TOLERANCE, lightInputs, lightPaths } from '../src/light.js';

const NETS = ['bvlc_alexnet', 'densenet121', 'inception_v1', 'inception_v2', 'resnet50', 'shufflenet', 'squeezenet', 'vgg19', 'zfnet512'];

let corpus = '';
beforeAll(async () => { corpus = await ensureCorpus(); });

describe('light/ CNNs (CPU backend)', () => {
  it.each(NETS)('light_%s matches its expected output', (net) => {
    const paths = lightPaths(corpus, net);
    const feeds = lightInputs(readBytes(paths.model));
    const { model, outputs } = parseBuildRun(paths.model, feeds);
    expect(model.outputs.length).toBe(1);
    const expected = readTensorProto(readBytes(paths.expected)).tensor;
    const actual = outputs[model.outputs[0].name];
    expect(actual, `output ${model.outputs[0].name}`).toBeDefined();
    expect(compareTensors(model.outputs[0].name, actual, expected, LIGHT_TOLERANCE)).toBeNull();
  }, 180_000);
});
