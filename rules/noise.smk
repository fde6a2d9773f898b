# Label-noise injection and dataset shaping: the view (examples + labels) each run trains on.
from robustrepro import noise as rr_noise


rule view:
    input:
        # Before a build may replace the view, a damaged or outdated one is set aside (robustrepro.noise.vet_view).
        one_line_errors(lambda wildcards: rr_noise.view_input(paths.view(wildcards.scale, wildcards.view_id),
                        PIPELINE.view(wildcards.scale, wildcards.view_id), PREPARED, build=not workflow.dryrun)),
    output:
        npz=paths.view("{scale}", "{view_id}"),
        summary=paths.view_summary("{scale}", "{view_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "view", "{view_id}"),
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        spec=lambda wildcards: json.dumps(PIPELINE.view(wildcards.scale, wildcards.view_id), sort_keys=True),
    shell:
        "python -m robustrepro view --spec {params.spec:q} --data {input:q} "
        "--out {output.npz:q} --summary {output.summary:q} > {log:q} 2>&1"
