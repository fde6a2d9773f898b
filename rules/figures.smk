# Figures: PDF and PNG from one matplotlib style, plus the plotted numbers as CSV.


rule figure:
    input:
        target_groups("figure"),
        images=target_images("figure"),
    output:
        pdf="results/{scale}/{paper}/{target}.pdf",
        png=report(
            "results/{scale}/{paper}/{target}.png",
            caption="../workflow/report/target.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "{target}", "kind": "figure"},
        ),
        csv="results/{scale}/{paper}/{target}.csv",
    log:
        "results/{scale}/logs/targets/{paper}-{target}.log",
    localrule: True
    conda:
        ENV
    wildcard_constraints:
        target=TARGET_NAMES["figure"],
    params:
        caption=caption_of,
        papers=PAPER_MODULE_ARGS,
        images=images_args("figure"),
    shell:
        "python -m robustrepro target --paper {wildcards.paper:q} --target {wildcards.target:q} "
        "--scale {wildcards.scale:q} --results-dir results/{wildcards.scale:q}/{wildcards.paper:q} "
        "--runs-root results/{wildcards.scale:q}/runs {params.images:q} {params.papers:q} > {log:q} 2>&1"
