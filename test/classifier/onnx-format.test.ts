import t, { type Test } from 'tap'
import { readModelContract, ModelContractError } from '../../src/core/classifier/model-contract.js'
import { decodeOnnxModel, encodeOnnxModel, ONNX_FLOAT, ONNX_INT64, OnnxFormatError, type OnnxModel, type OnnxModelInfo } from '../../src/core/formats/onnx.js'
import { mulberry32 } from '../helpers/prng.js'

const spec = { buckets: 16, wordNgrams: 2, charNgramMin: 3, charNgramMax: 5, maxFeatures: 64 }

function model(over: { metadata?: Record<string, string>; inputs?: OnnxModel['graph']['inputs']; outputs?: OnnxModel['graph']['outputs'] } = {}): OnnxModel {
  return {
    irVersion: 7,
    producer: { name: 'test', version: '1' },
    opsets: [{ domain: '', version: 13 }, { domain: 'ai.onnx.ml', version: 3 }],
    graph: {
      name: 'g',
      nodes: [
        { opType: 'Gather', name: 'lookup', inputs: ['embedding', 'ids'], outputs: ['rows'], attributes: [{ name: 'axis', type: 'int', value: 0 }] },
        { opType: 'ReduceSum', inputs: ['rows', 'axes'], outputs: ['sum'], attributes: [{ name: 'keepdims', type: 'int', value: 0 }] },
        { opType: 'Softmax', inputs: ['sum'], outputs: ['scores'], attributes: [{ name: 'axis', type: 'ints', value: [-1] }] },
        { opType: 'Custom', domain: 'com.example', inputs: ['weights'], outputs: ['unused'], attributes: [{ name: 'alpha', type: 'float', value: 0.5 }] },
      ],
      initializers: [
        { name: 'embedding', dataType: ONNX_FLOAT, dims: [16, 2], data: new Float32Array(32).fill(0.25) },
        { name: 'axes', dataType: ONNX_INT64, dims: [1], data: BigInt64Array.of(1n) },
      ],
      inputs: over.inputs ?? [
        { name: 'ids', elemType: ONNX_INT64, dims: ['batch', 'n'] },
        { name: 'weights', elemType: ONNX_FLOAT, dims: ['batch', 'n'] },
      ],
      outputs: over.outputs ?? [{ name: 'scores', elemType: ONNX_FLOAT, dims: ['batch', 2] }],
    },
    metadata: over.metadata ?? {
      'chaperone.contract': 'hashed-ngrams-v1',
      'chaperone.labels': '["toxic","clean"]',
      'chaperone.languages': '["en","de"]',
      'chaperone.features': JSON.stringify(spec),
      'chaperone.description': 'a test model',
    },
  }
}

t.test('encode → decode round trip', (t) => {
  const bytes = encodeOnnxModel(model())
  const info = decodeOnnxModel(bytes)
  t.equal(info.irVersion, 7)
  t.equal(info.producer, 'test')
  t.same(info.opsets, [{ domain: '', version: 13 }, { domain: 'ai.onnx.ml', version: 3 }])
  t.same(info.inputs, [
    { name: 'ids', elemType: ONNX_INT64, dims: ['batch', 'n'] },
    { name: 'weights', elemType: ONNX_FLOAT, dims: ['batch', 'n'] },
  ])
  t.same(info.outputs, [{ name: 'scores', elemType: ONNX_FLOAT, dims: ['batch', 2] }])
  t.same(info.nodes, [
    { opType: 'Gather', domain: '' },
    { opType: 'ReduceSum', domain: '' },
    { opType: 'Softmax', domain: '' },
    { opType: 'Custom', domain: 'com.example' },
  ])
  t.equal(info.metadata['chaperone.description'], 'a test model')
  t.same(encodeOnnxModel(model()), bytes, 'encoding is deterministic')
  const contract = readModelContract(info)
  t.same(contract, { labels: ['toxic', 'clean'], languages: ['en', 'de'], features: spec, inputs: { ids: 'ids', weights: 'weights' }, output: 'scores', description: 'a test model' })
  t.end()
})

t.test('initializers listed among the inputs (IR < 4 style) are not inputs', (t) => {
  const m = model()
  const withInit = { ...m, graph: { ...m.graph, inputs: [...m.graph.inputs, { name: 'embedding', elemType: ONNX_FLOAT, dims: [16, 2] }] } }
  t.same(decodeOnnxModel(encodeOnnxModel(withInit)).inputs.map((i) => i.name), ['ids', 'weights'])
  t.end()
})

/** Decoding must end quickly with an OnnxFormatError, or with a model the contract rejects. */
function rejected(t: Test, bytes: Uint8Array, what: string): void {
  let info: OnnxModelInfo
  try {
    info = decodeOnnxModel(bytes)
  } catch (err) {
    if (!(err instanceof OnnxFormatError)) t.fail(`${what}: threw ${String(err)}`)
    return
  }
  try {
    readModelContract(info)
    t.fail(`${what}: accepted`)
  } catch (err) {
    if (!(err instanceof ModelContractError)) t.fail(`${what}: contract threw ${String(err)}`)
  }
}

t.test('corrupt input throws OnnxFormatError with a clear message', (t) => {
  t.throws(() => decodeOnnxModel(new Uint8Array(0)), { name: 'OnnxFormatError', message: /empty/ })
  t.throws(() => decodeOnnxModel(new TextEncoder().encode('not a model at all, just some text')), OnnxFormatError)
  t.throws(() => decodeOnnxModel(Uint8Array.of(0x08, 0x07)), { message: /no graph/ }, 'a protobuf with only ir_version')
  t.throws(() => decodeOnnxModel(Uint8Array.of(0x3a, 0x05, 0x12, 0x01, 0x67)), { message: /truncated/ }, 'a graph longer than the file')
  t.throws(() => decodeOnnxModel(encodeOnnxModel(model({ inputs: [] }))), { message: /no inputs/ })
  t.throws(() => decodeOnnxModel(encodeOnnxModel(model({ outputs: [] }))), { message: /no outputs/ })
  t.throws(() => decodeOnnxModel(Uint8Array.of(0x3b, 0x3b, 0x3b)), OnnxFormatError, 'an unterminated group')
  t.end()
})

t.test('truncated at every offset', (t) => {
  const bytes = encodeOnnxModel(model())
  for (let end = 0; end < bytes.length; end++) rejected(t, bytes.subarray(0, end), `first ${end} bytes`)
  t.pass(`${bytes.length} truncations rejected`)
  t.end()
})

t.test('random bytes and flipped bytes never hang or pass', (t) => {
  const random = mulberry32(1234)
  for (let k = 0; k < 2000; k++) {
    const bytes = new Uint8Array(1 + Math.floor(random() * 300))
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256)
    rejected(t, bytes, `random case ${k}`)
  }
  const good = encodeOnnxModel(model())
  let decoded = 0
  for (let k = 0; k < 3000; k++) {
    const bytes = good.slice()
    const flips = 1 + Math.floor(random() * 3)
    for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8)
    try {
      decodeOnnxModel(bytes)
      decoded++
    } catch (err) {
      if (!(err instanceof OnnxFormatError)) t.fail(`flip case ${k}: threw ${String(err)}`)
    }
  }
  t.pass(`3000 flipped copies: ${decoded} still decoded (e.g. a flip inside the weights), the rest OnnxFormatError`)
  // A length prefix claiming gigabytes must fail on bounds, not allocate.
  t.throws(() => decodeOnnxModel(Uint8Array.of(0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f)), OnnxFormatError)
  t.end()
})

t.test('readModelContract names what is wrong', (t) => {
  const base = model().metadata
  const info = (over: Parameters<typeof model>[0]) => decodeOnnxModel(encodeOnnxModel(model(over)))
  const fails = (over: Parameters<typeof model>[0], message: RegExp, what: string) => t.throws(() => readModelContract(info(over)), { name: 'ModelContractError', message }, what)
  const meta = (patch: Record<string, string | undefined>) => {
    const m: Record<string, string> = { ...base }
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete m[k]
    else m[k] = v
    return { metadata: m }
  }
  fails(meta({ 'chaperone.contract': undefined }), /chaperone\.contract is missing/, 'no contract')
  fails(meta({ 'chaperone.contract': 'bert-v2' }), /"bert-v2", this Chaperone supports "hashed-ngrams-v1"/, 'other contract')
  fails(meta({ 'chaperone.labels': undefined }), /chaperone\.labels is missing/, 'no labels')
  fails(meta({ 'chaperone.labels': '{"a":1}' }), /chaperone\.labels must be a JSON array of strings/, 'labels not an array')
  fails(meta({ 'chaperone.labels': '["a", 1]' }), /chaperone\.labels must be a JSON array of strings/, 'labels not strings')
  fails(meta({ 'chaperone.labels': '[' }), /chaperone\.labels is not valid JSON/, 'labels not JSON')
  fails(meta({ 'chaperone.labels': '[]' }), /at least one label/, 'no label')
  fails(meta({ 'chaperone.labels': '["a","a"]' }), /must not repeat a label/, 'repeated label')
  fails(meta({ 'chaperone.labels': '["a b","c"]' }), /label "a b" must be/, 'bad label name')
  fails(meta({ 'chaperone.languages': '["english"]' }), /"english" is not an ISO 639-1 code/, 'bad language')
  fails(meta({ 'chaperone.languages': '[]' }), /at least one language/, 'no language')
  fails(meta({ 'chaperone.features': '[1]' }), /chaperone\.features must be a JSON object/, 'features not an object')
  fails(meta({ 'chaperone.features': JSON.stringify({ ...spec, buckets: undefined }) }), /chaperone\.features\.buckets must be a number/, 'features missing a key')
  fails(meta({ 'chaperone.features': JSON.stringify({ ...spec, extra: 1 }) }), /unknown setting "extra"/, 'features with an unknown key')
  fails(meta({ 'chaperone.features': JSON.stringify({ ...spec, buckets: 1e9 }) }), /buckets must be an integer/, 'too many buckets')
  fails(meta({ 'chaperone.features': JSON.stringify({ ...spec, charNgramMin: 7 }) }), /charNgramMin must be/, 'min above max')

  const ids = { name: 'ids', elemType: ONNX_INT64, dims: ['batch', 'n'] }
  const weights = { name: 'weights', elemType: ONNX_FLOAT, dims: ['batch', 'n'] }
  fails({ inputs: [{ ...ids, name: 'input_ids' }, weights] }, /no input named "ids" \(inputs: "input_ids", "weights"\)/, 'ids renamed')
  fails({ inputs: [ids] }, /no input named "weights"/, 'no weights')
  fails({ inputs: [ids, weights, { name: 'mask', elemType: ONNX_INT64, dims: ['batch', 'n'] }] }, /exactly the inputs/, 'extra input')
  fails({ inputs: [{ ...ids, elemType: 6 }, weights] }, /input "ids" must be a int64 tensor/, 'int32 ids')
  fails({ inputs: [ids, { ...weights, elemType: 11 }] }, /input "weights" must be a float32 tensor/, 'double weights')
  fails({ inputs: [{ ...ids, dims: ['n'] }, weights] }, /input "ids" must have rank 2/, 'rank 1')
  fails({ inputs: [{ ...ids, dims: [1, 'n'] }, weights] }, /symbolic batch dimension, has 1/, 'fixed batch')
  fails({ inputs: [ids, { ...weights, dims: ['batch', 128] }] }, /symbolic feature-count dimension, has 128/, 'fixed n')
  fails({ outputs: [{ name: 'probs', elemType: ONNX_FLOAT, dims: ['batch', 2] }] }, /output is named "probs", expected "scores"/, 'output renamed')
  fails({ outputs: [{ name: 'scores', elemType: ONNX_FLOAT, dims: ['batch', 3] }] }, /has 3 columns, metadata chaperone\.labels names 2 labels/, 'wrong width')
  fails({ outputs: [{ name: 'scores', elemType: ONNX_FLOAT, dims: ['batch', 2] }, { name: 'x', elemType: ONNX_FLOAT, dims: ['batch'] }] }, /exactly one output/, 'two outputs')
  t.doesNotThrow(() => readModelContract(info({ outputs: [{ name: 'scores', elemType: ONNX_FLOAT, dims: ['batch', 'labels'] }] })), 'a symbolic label dimension is accepted')
  t.end()
})
