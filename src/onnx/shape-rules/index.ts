/**
 * The table of shape rules, one family per module. To support a new operator, add its rule to the family it
 * belongs to (or a new family module listed here) with unit tests beside the family's; the table refuses an
 * operator defined by two families.
 */
import { constantRules } from './constants.js';
import { convPoolRules } from './conv-pool.js';
import { elementwiseRules } from './elementwise.js';
import { layoutRules } from './layout.js';
import { linearRules } from './linear.js';
import { normalizationRules } from './normalization.js';
import { reduceRules } from './reduce.js';
import type { ShapeRule, ShapeRuleTable } from './types.js';

/** The families, in no particular order: each operator belongs to exactly one. */
export const SHAPE_RULE_FAMILIES: Readonly<Record<string, ShapeRuleTable>> = {
  constants: constantRules,
  elementwise: elementwiseRules,
  linear: linearRules,
  convPool: convPoolRules,
  layout: layoutRules,
  reduce: reduceRules,
  normalization: normalizationRules,
};

/** Every rule by `op_type`. */
export const SHAPE_RULES: ReadonlyMap<string, ShapeRule> = mergeFamilies(SHAPE_RULE_FAMILIES);

/** Merges family tables into one map. @throws Error when two families define the same operator. */
export function mergeFamilies(families: Readonly<Record<string, ShapeRuleTable>>): Map<string, ShapeRule> {
  const rules = new Map<string, ShapeRule>();
  const owner = new Map<string, string>();
  for (const [family, table] of Object.entries(families)) {
    for (const [op, rule] of Object.entries(table)) {
      const previous = owner.get(op);
      if (previous !== undefined) throw new Error(`Shape rule for ${op} is defined by both the ${previous} and ${family} families.`);
      owner.set(op, family);
      rules.set(op, rule);
    }
  }
  return rules;
}

export { MAX_TRACKED_VALUES, constantInfo } from './constants.js';
export type { Dim, ShapeContext, ShapeRule, ShapeRuleTable, TensorInfo } from './types.js';
