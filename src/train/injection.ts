import type { FeatureSpec } from '../core/classifier/features.js'
import { INJECTION_LABELS, loadDeepset } from './datasets.js'
import { bestF1Threshold, column, r4, thresholdTable, windowedScores } from './evaluate.js'
import { selectRows } from './feature-matrix.js'
import { argmaxRows, classReport, rocAuc, thresholdReport } from './metrics.js'
import { featuresOf, foldAll, trainModel } from './pipeline.js'
import { stratifiedFolds } from './split.js'
import { predictMatrix, type TrainSettings } from './trainer.js'

/**
 * Prompt-injection model: deepset's official split. Settings were chosen by stratified 5-fold
 * cross-validation on the 546 training rows (see MODEL_CARD.md), which also gives the
 * out-of-fold scores the suggested thresholds come from; the 116 test rows are only scored.
 */
export const INJECTION = {
  file: 'injection.onnx',
  languages: ['en', 'de'],
  description: 'Prompt injection in English or German text: injection / benign. Logistic regression on hashed word and character n-grams (hashed-ngrams-v1) of the folded view, trained on deepset/prompt-injections by Chaperone (src/train). See models/MODEL_CARD.md.',
  spec: { buckets: 1 << 18, wordNgrams: 2, charNgramMin: 3, charNgramMax: 6, maxFeatures: 4096 } satisfies FeatureSpec,
  settings: { epochs: 50, learningRate: 1, l2: 0, classWeight: 'none', softTargets: 0, seed: 20230 } satisfies TrainSettings,
  folds: 5,
  foldSeed: 11,
  /** The proxy's default classifier window (classifierWindowChars). */
  windowChars: 400,
} as const

const INJECTION_INDEX = 0

export function trainInjection(dataDir: string) {
  const I = INJECTION
  const train = loadDeepset(dataDir, 'train')
  const test = loadDeepset(dataDir, 'test')
  const labels = train.map((e) => e.label)
  const x = featuresOf(train.map((e) => e.text), I.spec)
  const meta = { languages: I.languages, description: I.description }
  const targets = (rows: readonly number[]) => ({ labels: Int32Array.from(rows, (i) => labels[i]!) })

  // Out-of-fold scores for every training row.
  const oof = new Float64Array(train.length * 2)
  const folds = stratifiedFolds(labels, I.folds, I.foldSeed)
  for (const [f, held] of folds.entries()) {
    const rest = folds.filter((_, k) => k !== f).flat().sort((a, b) => a - b)
    const m = trainModel(selectRows(x, rest), targets(rest), INJECTION_LABELS, I.spec, I.settings, meta).model
    const s = predictMatrix(m, selectRows(x, held))
    held.forEach((i, k) => oof.set(s.subarray(k * 2, k * 2 + 2), i * 2))
  }
  const oofInjection = column(oof, 2, INJECTION_INDEX)
  const isInjection = labels.map((y) => y === INJECTION_INDEX)
  const cvReport = classReport(labels, argmaxRows(oof, 2), INJECTION_LABELS)

  const all = train.map((_, i) => i)
  const final = trainModel(x, targets(all), INJECTION_LABELS, I.spec, I.settings, meta)
  const testFolded = foldAll(test.map((e) => e.text))
  const testScores = predictMatrix(final.model, featuresOf(test.map((e) => e.text), I.spec))
  const truth = test.map((e) => e.label)
  const report = classReport(truth, argmaxRows(testScores, 2), INJECTION_LABELS)
  const testIsInjection = truth.map((y) => y === INJECTION_INDEX)
  const auc = rocAuc(testIsInjection, column(testScores, 2, INJECTION_INDEX))
  // As served: every window scored alone; the text is an injection if any window is.
  const windowed = testFolded.map((t) => windowedScores(final.model, t, I.windowChars)[INJECTION_INDEX]!)
  const windowedAt = thresholdReport(testIsInjection, windowed, 0.5)
  const windowedAccuracy = windowed.filter((s, i) => s >= 0.5 === testIsInjection[i]).length / test.length

  const count = (ys: readonly number[]) => ({ injection: ys.filter((y) => y === INJECTION_INDEX).length, benign: ys.filter((y) => y !== INJECTION_INDEX).length })
  const metrics = {
    dataset: 'prompt-injections-deepset/{train,test}.jsonl',
    labels: INJECTION_LABELS,
    languages: I.languages,
    features: I.spec,
    settings: I.settings,
    split: { train: { rows: train.length, ...count(labels) }, test: { rows: test.length, ...count(truth) }, crossValidation: { folds: I.folds, seed: I.foldSeed }, shippedModelTrainedOn: 'all 546 training rows' },
    crossValidation: {
      accuracy: r4(cvReport.accuracy),
      injection: { precision: r4(cvReport.perClass.injection!.precision), recall: r4(cvReport.perClass.injection!.recall), f1: r4(cvReport.perClass.injection!.f1) },
      f1Threshold: bestF1Threshold(isInjection, oofInjection),
      thresholdTable: { injection: thresholdTable(isInjection, oofInjection) },
    },
    test: {
      accuracy: r4(report.accuracy),
      argmax: {
        weightedF1: r4(report.weighted.f1),
        injection: { precision: r4(report.perClass.injection!.precision), recall: r4(report.perClass.injection!.recall), f1: r4(report.perClass.injection!.f1) },
        confusion: report.confusion,
      },
      rocAuc: r4(auc),
      windowed: { windowChars: I.windowChars, accuracy: r4(windowedAccuracy), precision: r4(windowedAt.precision), recall: r4(windowedAt.recall) },
    },
    baseline: { source: 'published results on the same test split, as listed in the dataset README', accuracy: { 'logistic regression on mBERT embeddings': 0.9655, 'fine-tuned XLM-RoBERTa': 0.9741, "deepset's fine-tuned DeBERTa": 0.991 } },
    targets: { accuracy: { target: 0.965, value: r4(report.accuracy), met: report.accuracy >= 0.965 } },
  }
  return { file: I.file, bytes: final.bytes, model: final.model, metrics }
}
