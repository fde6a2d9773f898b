# Evaluations: a finished run's model snapshot measured under an attack and/or a defence
# (robustrepro.evaluation). One evaluation per job; its JSON is an input of its group's CSV.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        paths.evaluation("{scale}", "{eval_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "evaluate", "{eval_id}"),
    # Cluster profiles bundle evaluations as they bundle training runs (profiles/slurm).
    group:
        "eval-bundle"
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(config["device"]),
        mem_mb=8000,
        runtime=lambda wildcards: EVAL_RUNTIME[wildcards.scale],
    params:
        run=lambda wildcards: json.dumps(
            PIPELINE.run(wildcards.scale, PIPELINE.evaluation(wildcards.scale, wildcards.eval_id)["run_id"]),
            sort_keys=True),
        spec=lambda wildcards: json.dumps(PIPELINE.evaluation(wildcards.scale, wildcards.eval_id)["spec"],
                                          sort_keys=True),
        # The snapshots sit beside the run's checkpoint; the spec names which one (see train.smk).
        checkpoint=lambda wildcards: paths.checkpoint(
            wildcards.scale, PIPELINE.evaluation(wildcards.scale, wildcards.eval_id)["run_id"]),
        code=JOB_CODE["evaluate"],
        device_kind=DEVICE_KIND,
        recipe=recipe_flags(config, training=False),
    shell:
        "python -m robustrepro evaluate --run {params.run:q} --eval {params.spec:q} --data {input.data:q} "
        "--view {input.view:q} --checkpoint {params.checkpoint:q} --out {output:q} --threads {threads} "
        "{params.recipe:q} > {log:q} 2>&1"
