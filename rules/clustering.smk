# Offline clustering (seed 000): greedy set cover of radius balls around the vectors that
# features.smk extracts. A run whose config has a `clustering` gets the set cover as an input
# of its training job.


rule cluster:
    input:
        one_line_errors(lambda wildcards: paths.vectors(
            wildcards.scale, PIPELINE.cover(wildcards.scale, wildcards.cluster_id)["vectors"])),
    output:
        cover=paths.cover("{scale}", "{cluster_id}"),
        meta=paths.cover_meta("{scale}", "{cluster_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "cluster", "{cluster_id}"),
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(config["device"]),
        mem_mb=16000,
        runtime=60,
    params:
        fineness=lambda wildcards: [
            arg for key, value in PIPELINE.cover(wildcards.scale, wildcards.cluster_id)["spec"].items()
            if key in ("radius", "share") for arg in (f"--{key}", str(value))
        ],
        code=JOB_CODE["cluster"],
        device_kind=DEVICE_KIND,
    shell:
        "python -m robustrepro cluster --vectors {input:q} {params.fineness:q} --out {output.cover:q} "
        "--threads {threads} > {log:q} 2>&1"
