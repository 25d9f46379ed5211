/**
 * A label audit in the style of confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning: Estimating
 * Uncertainty in Dataset Labels", the `prune by noise rate` method), on out-of-fold probabilities (each image
 * predicted by a head that never saw it):
 * 1. per-class thresholds t_k = the mean probability of class k over the images labelled k (mean self-confidence);
 * 2. the confident joint C[i][j]: images labelled i whose most probable class among those reaching their threshold,
 *    p(j | x) ≥ t_j, is j; calibrated so that row i sums to the number of images labelled i;
 * 3. for every i ≠ j, the round(C[i][j]) images labelled i with the largest margin p(j | x) − p(i | x) are issues
 *    (an image chosen for two classes keeps the larger margin). Issues are ranked by margin.
 */

export interface LabelIssue {
  /** Row of the probabilities (the image). */
  readonly row: number;
  readonly givenLabel: number;
  /** The class the out-of-fold prediction says instead. */
  readonly suggestedLabel: number;
  /** p(given label | image), out of fold. */
  readonly givenProbability: number;
  /** p(suggested label | image), out of fold. */
  readonly suggestedProbability: number;
  /** suggestedProbability − givenProbability: how strongly the prediction contradicts the label. */
  readonly margin: number;
}

export interface LabelAudit {
  /** Per class, the mean self-confidence t_k (NaN for a class with no images). */
  readonly thresholds: readonly number[];
  /** Estimated number of images labelled i whose true class is j: the calibrated confident joint [i][j]. */
  readonly confidentJoint: ReadonlyArray<readonly number[]>;
  /** The likely label issues, most contradicted first (ties: lower self-confidence, then row). */
  readonly issues: readonly LabelIssue[];
}

/** Audits `labels` against out-of-fold `probabilities` [labels.length × numClasses]; see the module comment. */
export function auditLabels(probabilities: Float32Array, labels: ArrayLike<number>, numClasses: number): LabelAudit {
  const rows = labels.length;
  if (probabilities.length !== rows * numClasses)
    throw new RangeError(`auditLabels: ${probabilities.length} probabilities for ${rows} labels × ${numClasses} classes.`);
  const probability = (row: number, k: number): number => probabilities[row * numClasses + k]!;
  const byLabel: number[][] = Array.from({ length: numClasses }, () => []);
  const sums = new Float64Array(numClasses);
  for (let row = 0; row < rows; row++) {
    const label = labels[row]!;
    byLabel[label]!.push(row);
    sums[label]! += probability(row, label);
  }
  const thresholds = byLabel.map((members, k) => (members.length > 0 ? sums[k]! / members.length : Number.NaN));

  // The confident joint, then calibrated per given label.
  const joint = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let row = 0; row < rows; row++) {
    let confident = -1;
    for (let k = 0; k < numClasses; k++) {
      // A class without images has no threshold (NaN) and is never chosen.
      if (probability(row, k) >= thresholds[k]! && (confident === -1 || probability(row, k) > probability(row, confident))) confident = k;
    }
    if (confident !== -1) joint[labels[row]!]![confident]!++;
  }
  const confidentJoint = joint.map((counts, given) => {
    const total = counts.reduce((sum, count) => sum + count, 0);
    return total === 0 ? counts.map(() => 0) : counts.map((count) => (count * byLabel[given]!.length) / total);
  });

  // Prune by noise rate: the round(C[i][j]) images labelled i that most favour j.
  const chosen = new Map<number, LabelIssue>();
  for (let given = 0; given < numClasses; given++) {
    for (let suggested = 0; suggested < numClasses; suggested++) {
      const count = Math.round(confidentJoint[given]![suggested]!);
      if (suggested === given || count === 0) continue;
      const candidates = byLabel[given]!.map((row) => ({ row, margin: probability(row, suggested) - probability(row, given) }))
        .sort((a, b) => b.margin - a.margin || a.row - b.row).slice(0, count);
      for (const { row, margin } of candidates) {
        const previous = chosen.get(row);
        if (previous !== undefined && previous.margin >= margin) continue;
        chosen.set(row, { row, givenLabel: given, suggestedLabel: suggested, givenProbability: probability(row, given),
          suggestedProbability: probability(row, suggested), margin });
      }
    }
  }
  const issues = [...chosen.values()].sort((a, b) => b.margin - a.margin || a.givenProbability - b.givenProbability || a.row - b.row);
  return { thresholds, confidentJoint, issues };
}
