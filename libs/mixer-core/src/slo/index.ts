/** SLOs: continuous evaluation of ServiceLevelObjectives from request records, mesh_slo_* metrics, mesh.events.slo. */
export * from './evaluator.js';
export * from './extension.js';
