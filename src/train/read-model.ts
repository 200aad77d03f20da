import { BinaryReader, WireType } from '@bufbuild/protobuf/wire'
import type { ModelContract } from '../core/classifier/model-contract.js'
import type { BagModel } from './model.js'

/**
 * The bag model inside an ONNX file this trainer wrote: its `embedding` and `bias` initializers
 * (float32 raw_data). Tests use it to run the training code's forward pass on a shipped file.
 */
export function readBagModel(bytes: Uint8Array, contract: ModelContract): BagModel {
  const tensors = new Map<string, Float32Array>()
  const r = new BinaryReader(bytes)
  const within = (end: number, on: (field: number, wire: WireType) => boolean): void => {
    while (r.pos < end) {
      const [field, wire] = r.tag()
      if (!on(field, wire)) r.skip(wire, field)
    }
  }
  within(r.len, (field, wire) => {
    if (field !== 7 || wire !== WireType.LengthDelimited) return false
    const graphEnd = r.uint32() + r.pos
    within(graphEnd, (gf, gw) => {
      if (gf !== 5 || gw !== WireType.LengthDelimited) return false
      const end = r.uint32() + r.pos
      let name = ''
      let raw: Uint8Array | undefined
      within(end, (tf, tw) => {
        if (tf === 8 && tw === WireType.LengthDelimited) name = r.string()
        else if (tf === 9 && tw === WireType.LengthDelimited) raw = r.bytes()
        else return false
        return true
      })
      if (raw && (name === 'embedding' || name === 'bias')) {
        const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
        const values = new Float32Array(raw.byteLength / 4)
        for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true)
        tensors.set(name, values)
      }
      return true
    })
    return true
  })
  const embedding = tensors.get('embedding')
  const bias = tensors.get('bias')
  const classes = contract.labels.length
  if (!embedding || !bias || embedding.length !== contract.features.buckets * classes || bias.length !== classes) throw new Error('not a bag model written by src/train (embedding [buckets, labels] and bias [labels] expected)')
  return { spec: contract.features, labels: contract.labels, embedding, bias }
}
