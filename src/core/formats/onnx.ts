import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire'

/**
 * The subset of ONNX's ModelProto (onnx/onnx.proto) that Chaperone writes and inspects, coded
 * by field number over protobuf's wire format: the trainer encodes its graphs with it, and the
 * serving side decodes a model file's interface (inputs, outputs, opsets, metadata) before
 * handing the bytes to onnxruntime, so that a wrong or corrupt file is a clear error rather than
 * a native one. Only the fields listed below are read; every other field is skipped, and the
 * reader's bounds checks keep hostile input from reading past the end or allocating more than
 * it holds.
 */

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1
export const ONNX_INT64 = 7

export class OnnxFormatError extends Error {
  override readonly name = 'OnnxFormatError'
}

export interface OnnxValueInfo {
  readonly name: string
  /** TensorProto.DataType of a tensor value; 0 when the value is not a tensor. */
  readonly elemType: number
  /** dim_value as a number, dim_param as its name, '' for a dimension with neither. */
  readonly dims: readonly (number | string)[]
}

export interface OnnxModelInfo {
  readonly irVersion: number
  readonly producer: string
  readonly opsets: readonly { readonly domain: string; readonly version: number }[]
  /** Graph inputs that are not initializers. */
  readonly inputs: readonly OnnxValueInfo[]
  readonly outputs: readonly OnnxValueInfo[]
  readonly metadata: Readonly<Record<string, string>>
  readonly nodes: readonly { readonly opType: string; readonly domain: string }[]
}

export type OnnxAttribute =
  | { readonly name: string; readonly type: 'float'; readonly value: number }
  | { readonly name: string; readonly type: 'int'; readonly value: number }
  | { readonly name: string; readonly type: 'ints'; readonly value: readonly number[] }

export interface OnnxNode {
  readonly opType: string
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly name?: string
  readonly domain?: string
  readonly attributes?: readonly OnnxAttribute[]
}

export interface OnnxTensor {
  readonly name: string
  readonly dataType: typeof ONNX_FLOAT | typeof ONNX_INT64
  readonly dims: readonly number[]
  /** Values in row-major order, stored little-endian as raw_data. */
  readonly data: Float32Array | BigInt64Array
}

export interface OnnxModel {
  readonly irVersion: number
  readonly producer: { readonly name: string; readonly version: string }
  readonly opsets: readonly { readonly domain: string; readonly version: number }[]
  readonly graph: {
    readonly name: string
    readonly nodes: readonly OnnxNode[]
    readonly initializers: readonly OnnxTensor[]
    readonly inputs: readonly OnnxValueInfo[]
    readonly outputs: readonly OnnxValueInfo[]
  }
  /** Written sorted by key, so equal models encode to equal bytes. */
  readonly metadata: Readonly<Record<string, string>>
}

const ATTR_FLOAT = 1
const ATTR_INT = 2
const ATTR_INTS = 7

/** Serializes `model` as an ONNX ModelProto. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new BinaryWriter()
  w.tag(1, WireType.Varint).int64(model.irVersion)
  w.tag(2, WireType.LengthDelimited).string(model.producer.name)
  w.tag(3, WireType.LengthDelimited).string(model.producer.version)
  w.tag(7, WireType.LengthDelimited).fork()
  writeGraph(w, model.graph)
  w.join()
  for (const o of model.opsets) {
    w.tag(8, WireType.LengthDelimited).fork()
    if (o.domain !== '') w.tag(1, WireType.LengthDelimited).string(o.domain)
    w.tag(2, WireType.Varint).int64(o.version)
    w.join()
  }
  for (const key of Object.keys(model.metadata).sort()) {
    w.tag(14, WireType.LengthDelimited).fork()
    w.tag(1, WireType.LengthDelimited).string(key)
    w.tag(2, WireType.LengthDelimited).string(model.metadata[key]!)
    w.join()
  }
  return w.finish()
}

function writeGraph(w: BinaryWriter, g: OnnxModel['graph']): void {
  for (const n of g.nodes) {
    w.tag(1, WireType.LengthDelimited).fork()
    for (const i of n.inputs) w.tag(1, WireType.LengthDelimited).string(i)
    for (const o of n.outputs) w.tag(2, WireType.LengthDelimited).string(o)
    if (n.name !== undefined) w.tag(3, WireType.LengthDelimited).string(n.name)
    w.tag(4, WireType.LengthDelimited).string(n.opType)
    for (const a of n.attributes ?? []) {
      w.tag(5, WireType.LengthDelimited).fork()
      w.tag(1, WireType.LengthDelimited).string(a.name)
      if (a.type === 'float') w.tag(2, WireType.Bit32).float(a.value)
      else if (a.type === 'int') w.tag(3, WireType.Varint).int64(a.value)
      else for (const v of a.value) w.tag(8, WireType.Varint).int64(v)
      w.tag(20, WireType.Varint).int32(a.type === 'float' ? ATTR_FLOAT : a.type === 'int' ? ATTR_INT : ATTR_INTS)
      w.join()
    }
    if (n.domain !== undefined && n.domain !== '') w.tag(7, WireType.LengthDelimited).string(n.domain)
    w.join()
  }
  w.tag(2, WireType.LengthDelimited).string(g.name)
  for (const t of g.initializers) {
    w.tag(5, WireType.LengthDelimited).fork()
    for (const d of t.dims) w.tag(1, WireType.Varint).int64(d)
    w.tag(2, WireType.Varint).int32(t.dataType)
    w.tag(8, WireType.LengthDelimited).string(t.name)
    w.tag(9, WireType.LengthDelimited).bytes(littleEndian(t.data))
    w.join()
  }
  for (const v of g.inputs) writeValueInfo(w, 11, v)
  for (const v of g.outputs) writeValueInfo(w, 12, v)
}

function writeValueInfo(w: BinaryWriter, field: number, v: OnnxValueInfo): void {
  w.tag(field, WireType.LengthDelimited).fork()
  w.tag(1, WireType.LengthDelimited).string(v.name)
  w.tag(2, WireType.LengthDelimited).fork() // TypeProto
  w.tag(1, WireType.LengthDelimited).fork() // TypeProto.Tensor
  w.tag(1, WireType.Varint).int32(v.elemType)
  w.tag(2, WireType.LengthDelimited).fork() // TensorShapeProto
  for (const d of v.dims) {
    w.tag(1, WireType.LengthDelimited).fork()
    if (typeof d === 'number') w.tag(1, WireType.Varint).int64(d)
    else w.tag(2, WireType.LengthDelimited).string(d)
    w.join()
  }
  w.join().join().join().join()
}

function littleEndian(data: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(data.length * (data instanceof Float32Array ? 4 : 8))
  const view = new DataView(out.buffer)
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true)
  else for (let i = 0; i < data.length; i++) view.setBigInt64(i * 8, data[i]!, true)
  return out
}

/**
 * Reads the interface of an ONNX model. Throws OnnxFormatError when the bytes are not a
 * protobuf, or are one that is not a model with a graph that has inputs and outputs.
 */
export function decodeOnnxModel(bytes: Uint8Array): OnnxModelInfo {
  if (bytes.length === 0) throw new OnnxFormatError('ONNX model is empty (0 bytes)')
  try {
    return readModel(bytes)
  } catch (err) {
    if (err instanceof OnnxFormatError) throw err
    throw new OnnxFormatError(`ONNX model is not a valid protobuf: ${err instanceof Error ? err.message : String(err)}`)
  }
}

type Fields = (field: number, wire: WireType, r: BinaryReader) => boolean

/**
 * Reads the message in r's [pos, end), calling `on` per field; a field `on` does not take is
 * skipped. A declared length past the end is an error, never a read beyond it.
 */
function readMessage(r: BinaryReader, end: number, what: string, on: Fields): void {
  while (r.pos < end) {
    const [field, wire] = r.tag()
    if (field === 0) throw new OnnxFormatError(`${what} has a field numbered 0`)
    if (!on(field, wire, r)) r.skip(wire, field)
  }
  if (r.pos !== end) throw new OnnxFormatError(`${what} overruns its declared length`)
}

/** Bounds of the length-delimited submessage at r.pos; moves r.pos to its start. */
function sub(r: BinaryReader, wire: WireType, what: string): number {
  if (wire !== WireType.LengthDelimited) throw new OnnxFormatError(`${what} has wire type ${wire}, expected a length-delimited message`)
  const len = r.uint32()
  const end = r.pos + len
  if (end > r.len) throw new OnnxFormatError(`${what} is truncated (needs ${len} bytes, ${r.len - r.pos} left)`)
  return end
}

function expectWire(wire: WireType, want: WireType, what: string): void {
  if (wire !== want) throw new OnnxFormatError(`${what} has wire type ${wire}, expected ${want}`)
}

function int64(r: BinaryReader): number {
  return Number(r.int64())
}

function str(r: BinaryReader, wire: WireType, what: string): string {
  expectWire(wire, WireType.LengthDelimited, what)
  return r.string()
}

function readModel(bytes: Uint8Array): OnnxModelInfo {
  const r = new BinaryReader(bytes)
  let irVersion: number | undefined
  let producer = ''
  const opsets: { domain: string; version: number }[] = []
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>
  let graph: { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[]; nodes: { opType: string; domain: string }[] } | undefined
  readMessage(r, r.len, 'ModelProto', (field, wire) => {
    switch (field) {
      case 1:
        expectWire(wire, WireType.Varint, 'ModelProto.ir_version')
        irVersion = int64(r)
        return true
      case 2:
        producer = str(r, wire, 'ModelProto.producer_name')
        return true
      case 7:
        graph = readGraph(r, sub(r, wire, 'ModelProto.graph'))
        return true
      case 8: {
        const end = sub(r, wire, 'ModelProto.opset_import')
        let domain = ''
        let version = 0
        readMessage(r, end, 'OperatorSetIdProto', (f, w) => {
          if (f === 1) domain = str(r, w, 'OperatorSetIdProto.domain')
          else if (f === 2) {
            expectWire(w, WireType.Varint, 'OperatorSetIdProto.version')
            version = int64(r)
          } else return false
          return true
        })
        opsets.push({ domain, version })
        return true
      }
      case 14: {
        const end = sub(r, wire, 'ModelProto.metadata_props')
        let key = ''
        let value = ''
        readMessage(r, end, 'StringStringEntryProto', (f, w) => {
          if (f === 1) key = str(r, w, 'StringStringEntryProto.key')
          else if (f === 2) value = str(r, w, 'StringStringEntryProto.value')
          else return false
          return true
        })
        metadata[key] = value
        return true
      }
      default:
        return false
    }
  })
  if (graph === undefined) throw new OnnxFormatError('ONNX model has no graph (is this an ONNX model file?)')
  if (irVersion === undefined) throw new OnnxFormatError('ONNX model has no ir_version')
  if (graph.inputs.length === 0) throw new OnnxFormatError('ONNX model graph has no inputs')
  if (graph.outputs.length === 0) throw new OnnxFormatError('ONNX model graph has no outputs')
  return { irVersion, producer, opsets, inputs: graph.inputs, outputs: graph.outputs, metadata: { ...metadata }, nodes: graph.nodes }
}

function readGraph(r: BinaryReader, end: number): { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[]; nodes: { opType: string; domain: string }[] } {
  const inputs: OnnxValueInfo[] = []
  const outputs: OnnxValueInfo[] = []
  const nodes: { opType: string; domain: string }[] = []
  const initializers = new Set<string>()
  readMessage(r, end, 'GraphProto', (field, wire) => {
    switch (field) {
      case 1: {
        const nodeEnd = sub(r, wire, 'GraphProto.node')
        let opType = ''
        let domain = ''
        readMessage(r, nodeEnd, 'NodeProto', (f, w) => {
          if (f === 4) opType = str(r, w, 'NodeProto.op_type')
          else if (f === 7) domain = str(r, w, 'NodeProto.domain')
          else return false
          return true
        })
        nodes.push({ opType, domain })
        return true
      }
      case 5: {
        const tEnd = sub(r, wire, 'GraphProto.initializer')
        readMessage(r, tEnd, 'TensorProto', (f, w) => {
          if (f !== 8) return false
          initializers.add(str(r, w, 'TensorProto.name'))
          return true
        })
        return true
      }
      case 11:
        inputs.push(readValueInfo(r, sub(r, wire, 'GraphProto.input')))
        return true
      case 12:
        outputs.push(readValueInfo(r, sub(r, wire, 'GraphProto.output')))
        return true
      default:
        return false
    }
  })
  // Before IR version 4 initializers were also listed as inputs; they are not fed by callers.
  return { inputs: inputs.filter((v) => !initializers.has(v.name)), outputs, nodes }
}

function readValueInfo(r: BinaryReader, end: number): OnnxValueInfo {
  let name = ''
  let elemType = 0
  const dims: (number | string)[] = []
  readMessage(r, end, 'ValueInfoProto', (field, wire) => {
    if (field === 1) {
      name = str(r, wire, 'ValueInfoProto.name')
      return true
    }
    if (field !== 2) return false
    readMessage(r, sub(r, wire, 'ValueInfoProto.type'), 'TypeProto', (f, w) => {
      if (f !== 1) return false
      readMessage(r, sub(r, w, 'TypeProto.tensor_type'), 'TypeProto.Tensor', (tf, tw) => {
        if (tf === 1) {
          expectWire(tw, WireType.Varint, 'TypeProto.Tensor.elem_type')
          elemType = r.int32()
          return true
        }
        if (tf !== 2) return false
        readMessage(r, sub(r, tw, 'TypeProto.Tensor.shape'), 'TensorShapeProto', (sf, sw) => {
          if (sf !== 1) return false
          let dim: number | string = ''
          readMessage(r, sub(r, sw, 'TensorShapeProto.dim'), 'TensorShapeProto.Dimension', (df, dw) => {
            if (df === 1) {
              expectWire(dw, WireType.Varint, 'Dimension.dim_value')
              dim = int64(r)
            } else if (df === 2) dim = str(r, dw, 'Dimension.dim_param')
            else return false
            return true
          })
          dims.push(dim)
          return true
        })
        return true
      })
      return true
    })
    return true
  })
  return { name, elemType, dims }
}
