# Features and last-layer gradients (seed 000): the vectors of every training example under a
# source run's model snapshots, which the clustering rules read.


rule extract:
    input:
        unpack(extract_inputs),
    output:
        vectors=paths.vectors("{scale}", "{vectors_id}"),
        meta=paths.vectors_meta("{scale}", "{vectors_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "extract", "{vectors_id}"),
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(config["device"]),
        mem_mb=16000,
        runtime=60,
    params:
        # Snapshots sit beside the source run's checkpoint, outside the declared outputs (see train.smk).
        checkpoint=lambda wildcards: paths.checkpoint(
            wildcards.scale, PIPELINE.vectors(wildcards.scale, wildcards.vectors_id)["spec"]["source"]),
        snapshots=lambda wildcards: [
            arg for tag in PIPELINE.vectors(wildcards.scale, wildcards.vectors_id)["spec"]["checkpoints"]
            for arg in ("--snapshot", str(tag))
        ],
        kind=lambda wildcards: PIPELINE.vectors(wildcards.scale, wildcards.vectors_id)["spec"]["space"],
        code=JOB_CODE["extract"],
        device_kind=DEVICE_KIND,
    shell:
        "python -m robustrepro extract --checkpoint {params.checkpoint:q} {params.snapshots:q} --data {input.data:q} "
        "--view {input.view:q} --kind {params.kind:q} --out {output.vectors:q} "
        "--threads {threads} > {log:q} 2>&1"
