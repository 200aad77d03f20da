import ort from 'onnxruntime-node'
import t from 'tap'
import { featurize, type FeatureSpec } from '../../src/core/classifier/features.js'
import { readModelContract } from '../../src/core/classifier/model-contract.js'
import { decodeOnnxModel } from '../../src/core/formats/onnx.js'
import { foldText } from '../../src/core/moderation/normalize/index.js'
import { forward } from '../../src/train/model.js'
import { featuresOf, trainModel } from '../../src/train/pipeline.js'
import type { TrainSettings } from '../../src/train/trainer.js'

const labels = ['rude', 'polite'] as const
const rude = ['you are an idiot', 'shut up you fool', 'what a stupid idea', 'idiots everywhere', 'you stupid fool', 'go away idiot']
const polite = ['thank you very much', 'have a lovely day', 'what a kind idea', 'thanks for the help', 'you are very kind', 'please come again']
const texts = [...rude, ...polite]
const y = Int32Array.from(texts, (_, i) => (i < rude.length ? 0 : 1))
const spec: FeatureSpec = { buckets: 4096, wordNgrams: 2, charNgramMin: 2, charNgramMax: 4, maxFeatures: 512 }
const settings: TrainSettings = { epochs: 30, learningRate: 0.5, l2: 1e-4, classWeight: 'none', softTargets: 0, seed: 42 }
const meta = { languages: ['en'], description: 'tiny test model' }

function train(seed: number) {
  return trainModel(featuresOf(texts, spec), { labels: y }, labels, spec, { ...settings, seed }, meta)
}

t.test('the same seed gives the same bytes; another seed other bytes', (t) => {
  const a = train(42)
  const b = train(42)
  t.same(Buffer.from(b.bytes), Buffer.from(a.bytes), 'byte-identical')
  const c = train(43)
  t.notSame(Buffer.from(c.bytes), Buffer.from(a.bytes), 'a different seed changes the weights')
  t.ok(a.bytes.length < 100_000, 'a small model stays small')
  t.end()
})

t.test('onnxruntime scores equal the training code on fixed inputs', async (t) => {
  const { model, bytes } = train(42)
  const contract = readModelContract(decodeOnnxModel(bytes))
  t.same(contract.labels, labels)
  t.same(contract.features, spec)
  const session = await ort.InferenceSession.create(bytes)
  t.teardown(() => session.release())

  const inputs = ['you idiot', 'thank you, have a kind day', 'Stupid FOOL!!', '', 'completely unseen words here']
  const feats = inputs.map((s) => featurize(foldText(s), spec))
  // One padded batch, as the serving adapter sends it.
  const n = Math.max(1, ...feats.map((f) => f.ids.length))
  const ids = new BigInt64Array(inputs.length * n)
  const weights = new Float32Array(inputs.length * n)
  feats.forEach((f, r) => {
    f.ids.forEach((id, j) => (ids[r * n + j] = BigInt(id)))
    weights.set(f.weights, r * n)
  })
  const out = await session.run({ ids: new ort.Tensor('int64', ids, [inputs.length, n]), weights: new ort.Tensor('float32', weights, [inputs.length, n]) })
  const scores = out.scores!
  t.same(scores.dims, [inputs.length, labels.length])
  const data = scores.data as Float32Array
  feats.forEach((f, r) => {
    const mine = forward(model, f.ids, f.weights)
    for (let c = 0; c < labels.length; c++) t.ok(Math.abs(data[r * labels.length + c]! - mine[c]!) < 1e-5, `${JSON.stringify(inputs[r])} ${labels[c]}: ort ${data[r * labels.length + c]} vs ${mine[c]}`)
  })
  t.ok(forward(model, feats[0]!.ids, feats[0]!.weights)[0]! > 0.5, 'learnt: "you idiot" is rude')
  t.ok(forward(model, feats[1]!.ids, feats[1]!.weights)[1]! > 0.5, 'learnt: the thanks are polite')
})
